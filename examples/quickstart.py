"""A session with an agent, tools and a manual LLM event, recorded in the local store.

python examples/quickstart.py && agentops-otel sessions
"""

from __future__ import annotations

import agentops_otel
from agentops_otel import LLMEvent, record


@agentops_otel.tool
def word_count(text: str) -> int:
    return len(text.split())


@agentops_otel.agent(name="editor")
def edit(draft: str) -> str:
    words = word_count(draft)
    # A call made without an instrumented SDK, recorded by hand (and costed from the price table).
    record(
        LLMEvent(
            model="gpt-4o-mini",
            prompt=draft,
            completion=draft.upper(),
            prompt_tokens=words,
            completion_tokens=words,
        )
    )
    return draft.upper()


if __name__ == "__main__":
    session_id = agentops_otel.init(tags=["example", "quickstart"])
    print("session", session_id)
    print(edit("a short draft to shout"))
    agentops_otel.end_session("Success", "edited")
