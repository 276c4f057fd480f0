"""``agentops-otel demo``: an instrumented agent run, recorded by the local backend, then shown.

Everything runs on 127.0.0.1 and needs no API key: the backend (``agentops-otel serve``'s app) runs in
this process on a free port, and the agent's LLM is a canned OpenAI-compatible server. The session lands
in the local store, so ``agentops-otel sessions`` shows it afterwards too.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MISSING_EXTRAS = (
    'the demo needs the server and demo extras: pip install "agentops-opentelemetry[server,demo]"'
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- a canned OpenAI-compatible LLM --------------------------------------------------------------------


class _CannedLLM(BaseHTTPRequestHandler):
    """Answers ``POST /v1/chat/completions`` like OpenAI would, streamed or not, with token usage."""

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        question = str(body.get("messages", [{}])[-1].get("content", ""))
        answer = _answer(question)
        model = body.get("model", "gpt-4o-mini")
        prompt_tokens = max(1, len(question.split()) * 4 // 3)
        completion_tokens = max(1, len(answer.split()) * 4 // 3)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        base = {"id": f"chatcmpl-demo{int(time.time() * 1000)}", "created": int(time.time()), "model": model}
        if not body.get("stream"):
            self._send(
                "application/json",
                json.dumps(
                    {
                        **base,
                        "object": "chat.completion",
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": answer},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": usage,
                    }
                ).encode(),
            )
            return
        chunks = [
            {"index": 0, "delta": {"role": "assistant", "content": word + " "}, "finish_reason": None}
            for word in answer.split()
        ]
        events = [{**base, "object": "chat.completion.chunk", "choices": [c]} for c in chunks]
        events.append(
            {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
        )
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
        payload = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        self._send("text/event-stream", payload.encode())

    def _send(self, content_type: str, payload: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _answer(question: str) -> str:
    if "plan" in question.lower():
        return "1. search the literature 2. compare designs 3. summarise the trade-offs"
    return "Solar sails trade thrust for endurance: no propellant, steady acceleration, slow starts."


@contextmanager
def _canned_llm() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CannedLLM)
    thread = threading.Thread(target=server.serve_forever, name="demo-llm", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


# -- the local backend in this process -----------------------------------------------------------------


@contextmanager
def _backend(db: str) -> Iterator[str]:
    import uvicorn

    from agentops_otel.backend.api import create_app

    routes: list[Any] = []
    try:
        from agentops_otel.backend import dashboard

        routes = dashboard.routes()
    except ImportError:
        pass
    port = _free_port()
    config = uvicorn.Config(
        create_app(db, extra_routes=routes), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="demo-backend", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the local backend did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


# -- the agent -----------------------------------------------------------------------------------------


def _run_agent(llm_url: str) -> None:
    import openai

    import agentops_otel
    from agentops_otel import ActionEvent, ErrorEvent, record

    llm = openai.OpenAI(base_url=llm_url, api_key="demo-key-not-secret", max_retries=0)

    @agentops_otel.tool
    def search(query: str) -> list[str]:
        return [f"{query}: result {i}" for i in range(3)]

    @agentops_otel.tool(name="fetch_paper")
    def fetch(url: str) -> str:
        if "broken" in url:
            raise ConnectionError(f"could not fetch {url}")
        return f"contents of {url}"

    @agentops_otel.agent(name="researcher")
    def research(topic: str) -> str:
        plan = llm.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"Make a plan to research {topic}"}]
        )
        queries = [f"{topic} {aspect}" for aspect in ("thrust", "materials", "missions")]
        with ThreadPoolExecutor(max_workers=3) as pool:  # the session follows the work into threads
            hits = [hit for found in pool.map(search, queries) for hit in found]
        for url in ("paper-1", "paper-broken"):
            try:
                fetch(url)
            except ConnectionError as exc:
                record(ErrorEvent(exception=exc, details="skipped one paper"))
        stream = llm.chat.completions.create(
            model="gpt-4o",
            stream=True,
            messages=[
                {"role": "system", "content": plan.choices[0].message.content or ""},
                {"role": "user", "content": f"Summarise {len(hits)} findings on {topic}"},
            ],
        )
        summary = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        record(ActionEvent(action_type="save_notes", params={"topic": topic}, returns=len(summary)))
        return summary

    print("agent says:", research("solar sails").strip())


# -- main ------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentops-otel demo", description=__doc__)
    parser.add_argument("--db", help="store file (default: the local store the CLI reads)")
    args = parser.parse_args(list(argv) if argv is not None else [])
    try:
        import openai  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        print(MISSING_EXTRAS, file=sys.stderr)
        return 2

    import agentops_otel
    from agentops_otel._config import Configuration
    from agentops_otel.cli.render import print_session, print_sessions
    from agentops_otel.cli.sources import RemoteSource
    from agentops_otel.store.sqlite import Store

    db = args.db or Configuration.from_env().store_path
    store = Store(db)
    _, api_key, _ = store.create_project("demo")
    store.close()

    with _backend(db) as backend_url, _canned_llm() as llm_url:
        print(f"local backend on {backend_url} (store {db}); canned LLM on {llm_url}\n")
        session_id = agentops_otel.init(
            api_key=api_key,
            endpoint=backend_url,
            tags=["demo", "research"],
            capture_content=True,
            auto_start_session=False,
        )
        session_id = agentops_otel.start_session(tags=["demo", "research"], name="research")
        try:
            _run_agent(llm_url)
        except Exception as exc:
            agentops_otel.end_session("Fail", f"{type(exc).__name__}: {exc}")
            raise
        agentops_otel.end_session("Success", "the research is summarised")
        delivered = agentops_otel.get_client().flush(10)
        if not delivered:
            print("warning: not every span reached the backend", file=sys.stderr)

        source = RemoteSource(backend_url, api_key)
        print("\n$ agentops-otel sessions --tag demo")
        print_sessions(source.list(["demo"], None, 5, 0), sys.stdout)
        print(f"\n$ agentops-otel sessions show {session_id}")
        shown = source.get(str(session_id))
        status = 0 if shown is not None else 1
        if shown is not None:
            print_session(shown, sys.stdout)

    print(
        "\nThe session is in the local store: `agentops-otel sessions` lists it.\n"
        "See it in the dashboard: `agentops-otel serve`, open http://127.0.0.1:8000 and use the key\n"
        f"  {api_key}"
    )
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
