"""The decorators of ``agentops.sdk.decorators`` (agentops 0.4), as this project records them.

- ``trace``, ``session`` (its old name), ``track_endpoint``: each call is a session of its own, Success
  when it returns, Fail with the exception when it raises; inside an active session, a span of it.
- ``agent``: ``invoke_agent {name}`` spans; ``tool``: ``execute_tool {name}`` spans, ``cost=`` recorded
  as ``agentops.usage.cost_usd``.
- ``operation``, ``task``, ``workflow``, ``guardrail``: action spans named after the function.

They take the 0.4 options (``name``, ``version``, ``tags``, ``cost``, ``spec``, ``capture_request``,
``capture_response``) and work on functions, methods, coroutines and generators.
"""

from __future__ import annotations

from agentops_otel import (
    agent,
    guardrail,
    operation,
    session,
    task,
    tool,
    trace,
    track_endpoint,
    workflow,
)

__all__ = [
    "agent",
    "guardrail",
    "operation",
    "session",
    "task",
    "tool",
    "trace",
    "track_endpoint",
    "workflow",
]
