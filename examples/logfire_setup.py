"""agentops_otel joining a Logfire set-up: Logfire keeps its exporters and sees the session, and its
scrubber is told to keep ``session.id`` (it matches Logfire's default "session" pattern).

python examples/logfire_setup.py && agentops-otel sessions
"""

from __future__ import annotations

import logfire

import agentops_otel
from agentops_otel import LLMEvent, record


def keep_session_id(match: logfire.ScrubMatch) -> object:
    """Logfire's scrubbing callback: keep the session's attributes (its id is the trace id), scrub the
    rest as usual."""
    name = match.path[-1] if match.path[:1] == ("attributes",) else ""
    if name == "session.id" or str(name).startswith("agentops.session."):
        return match.value
    return None


if __name__ == "__main__":
    logfire.configure(
        send_to_logfire=False,  # or your token: Logfire's own exporters are untouched
        console=False,
        scrubbing=logfire.ScrubbingOptions(callback=keep_session_id),
    )
    session_id = agentops_otel.init(tags=["example", "logfire"])  # joins Logfire's provider
    with logfire.span("plan the trip"):
        record(
            LLMEvent(
                model="gpt-4o-mini", prompt="plan", completion="a plan", prompt_tokens=5, completion_tokens=3
            )
        )
    agentops_otel.end_session("Success")
    print("session", session_id)
