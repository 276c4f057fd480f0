"""Attribute names and values of SPEC.md section 3, in one place.

The GenAI semantic-convention names used by the LLM instrumentation live in
``agentops_otel.instrumentation._genai``; this module holds ours.
"""

from __future__ import annotations

from typing import Final

# Present on every span started while a session is active (W3C baggage member too).
SESSION_ID: Final = "session.id"
BAGGAGE_SESSION_ID: Final = "session.id"

SPAN_KIND: Final = "agentops.span.kind"

# Values of agentops.span.kind.
KIND_SESSION: Final = "session"
KIND_SESSION_START: Final = "session.start"
KIND_LLM: Final = "llm"
KIND_TOOL: Final = "tool"
KIND_ACTION: Final = "action"
KIND_AGENT: Final = "agent"
KIND_ERROR: Final = "error"

# Root span of a session.
SESSION_TAGS: Final = "agentops.session.tags"
SESSION_NAME: Final = "agentops.session.name"
SESSION_END_STATE: Final = "agentops.session.end_state"
SESSION_END_STATE_REASON: Final = "agentops.session.end_state_reason"
SESSION_VIDEO: Final = "agentops.session.video"
SESSION_INHERITED: Final = "agentops.session.inherited"

# Set on spans started inside an @agent call, so the backend can show who did what.
AGENT_NAME: Final = "gen_ai.agent.name"
AGENT_ID: Final = "gen_ai.agent.id"

# Cost of an LLM call in US dollars, from the price table.
COST_USD: Final = "agentops.usage.cost_usd"

SDK_NAME: Final = "agentops_otel"
