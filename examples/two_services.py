"""A session that crosses two processes: a client in a session calls a FastAPI service that has a
session of its own; the request joins the client's session (W3C traceparent + baggage).

python examples/two_services.py && agentops-otel sessions

Both processes record into the local store (``AGENTOPS_DB`` or the default one). Under
``opentelemetry-instrument`` the same happens with no agentops_otel code in either file (see
docs/sessions.md, "Across services").
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import requests

import agentops_otel
from agentops_otel import LLMEvent, record, tool


@tool
def word_count(text: str) -> int:
    return len(text.split())


def serve(port: int) -> None:
    """The service: its own session (requests without one land there), FastAPI instrumented."""
    import uvicorn
    from fastapi import FastAPI
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    agentops_otel.init(tags=["service"])
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/summarize")
    def summarize(text: str) -> dict[str, str]:
        words = word_count(text)
        summary = " ".join(text.split()[:3])
        # A model call recorded by hand here; an instrumented SDK call would be recorded the same way.
        record(
            LLMEvent(
                model="gpt-4o-mini", prompt=text, completion=summary, prompt_tokens=words, completion_tokens=3
            )
        )
        return {"summary": summary}

    FastAPIInstrumentor.instrument_app(app)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def main() -> None:
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    port = int(os.environ.get("EXAMPLE_PORT", "8765"))
    service = subprocess.Popen([sys.executable, __file__, "serve", str(port)])
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                requests.get(url + "/health", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        session_id = agentops_otel.init(tags=["client"])
        RequestsInstrumentor().instrument()
        answer = requests.get(url + "/summarize", params={"text": "one two three four five"}, timeout=10)
        print(answer.json()["summary"])
        agentops_otel.end_session("Success")
        print("session", session_id)
    finally:
        service.terminate()  # its SIGTERM handler delivers its spans first
        service.wait(20)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]))
    else:
        main()
