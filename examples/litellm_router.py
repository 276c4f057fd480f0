"""LiteLLM calls (a completion, a stream, an embedding) recorded as a session: one LLM span each, with
the provider behind the model string, tokens and cost.

OPENAI_API_KEY=... python examples/litellm_router.py && agentops-otel sessions show <id>

``OPENAI_BASE_URL`` points it at any OpenAI-compatible server (the test runs it against a canned one).
"""

from __future__ import annotations

import os

import litellm

import agentops_otel


def main() -> None:
    session_id = agentops_otel.init(tags=["example", "litellm"])
    print("session", session_id)
    base = {"api_base": os.environ.get("OPENAI_BASE_URL")}
    messages = [{"role": "user", "content": "Say hello"}]
    reply = litellm.completion(model="openai/gpt-4o-mini", messages=messages, **base)
    print(reply.choices[0].message.content)
    for chunk in litellm.completion(model="openai/gpt-4o-mini", messages=messages, stream=True, **base):
        print(chunk.choices[0].delta.content or "", end="")
    print()
    litellm.embedding(model="openai/text-embedding-3-small", input=["hello"], **base)
    agentops_otel.end_session("Success")


if __name__ == "__main__":
    main()
