"""Google Gen AI SDK calls (plain and streamed) recorded as a session, with usage and cost.

GEMINI_API_KEY=... python examples/google_genai_chat.py && agentops-otel sessions show <id>

``GEMINI_BASE_URL`` points it at another endpoint (the test runs it against a canned one).
"""

from __future__ import annotations

import os

from google import genai
from google.genai import types

import agentops_otel


def main() -> None:
    session_id = agentops_otel.init(tags=["example", "google-genai"])
    print("session", session_id)
    base_url = os.environ.get("GEMINI_BASE_URL")
    client = genai.Client(http_options=types.HttpOptions(base_url=base_url) if base_url else None)
    reply = client.models.generate_content(model="gemini-2.5-flash", contents="Say hello")
    print(reply.text)
    for chunk in client.models.generate_content_stream(model="gemini-2.5-flash", contents="Say hello"):
        print(chunk.text or "", end="")
    print()
    agentops_otel.end_session("Success")


if __name__ == "__main__":
    main()
