"""Helpers of the backend tests: a real ``agentops-otel serve`` subprocess, projects made by the CLI,
an HTTP client for the API, and SDK spans shaped like the SDK's sessions."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

import requests
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

# Small enough that the 413 tests send little; far above any batch the tests send otherwise.
TEST_MAX_BODY = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``agentops-otel ARGS`` in a fresh interpreter (the installed console script's code)."""
    return subprocess.run(
        [sys.executable, "-m", "agentops_otel.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def create_project(db: str, name: str | None = None) -> dict[str, str]:
    result = run_cli("projects", "create", name or f"p-{uuid.uuid4().hex[:8]}", "--db", db)
    assert result.returncode == 0, result.stderr
    created: dict[str, str] = json.loads(result.stdout)
    return created


class BackendServer:
    """``agentops-otel serve`` in a subprocess."""

    def __init__(self, db: str, port: int | None = None, *extra: str) -> None:
        self.db = db
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait: float = 20.0) -> BackendServer:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agentops_otel.cli",
                "serve",
                "--port",
                str(self.port),
                "--db",
                self.db,
                "--log-level",
                "warning",
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"serve exited: {self.process.stderr.read().decode() if self.process.stderr else ''}"
                )
            try:
                requests.get(self.url + "/api/sessions", timeout=1)  # any answer: it is serving
                return self
            except requests.RequestException:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("serve did not start in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()


class ApiClient:
    """The backend's HTTP API, as a test reads it."""

    def __init__(self, url: str) -> None:
        self.url = url

    def token(self, api_key: str) -> str:
        response = requests.post(self.url + "/v3/auth/token", json={"api_key": api_key}, timeout=10)
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def sessions(self, bearer: str, **params: Any) -> list[dict[str, Any]]:
        response = self.get("/api/sessions", bearer, params=params)
        assert response.status_code == 200, response.text
        sessions: list[dict[str, Any]] = response.json()["sessions"]
        return sessions

    def session(self, bearer: str, session_id: str) -> dict[str, Any] | None:
        response = self.get(f"/api/sessions/{session_id}", bearer)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def get(self, path: str, bearer: str | None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return requests.get(self.url + path, headers=headers, timeout=10, **kwargs)

    def post_traces(
        self,
        bearer: str | None,
        body: bytes,
        content_type: str = "application/x-protobuf",
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        all_headers = {"Content-Type": content_type, **(headers or {})}
        if bearer:
            all_headers["Authorization"] = f"Bearer {bearer}"
        return requests.post(self.url + "/v1/traces", data=body, headers=all_headers, timeout=10)


class SpanMaker:
    """Real SDK spans (a plain TracerProvider recording into memory), shaped like a session."""

    def __init__(self) -> None:
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer = self.provider.get_tracer("tests.backend")

    def take(self) -> list[ReadableSpan]:
        spans = list(self.memory.get_finished_spans())
        self.memory.clear()
        return spans

    def session(
        self,
        *,
        session_id: str | None = None,
        tags: Sequence[str] = ("t1", "t2"),
        root_attrs: dict[str, Any] | None = None,
        root_status: Status | None = None,
        children: Sequence[tuple[str, dict[str, Any], Status | None]] = (),
    ) -> tuple[str, list[ReadableSpan], list[ReadableSpan]]:
        """``(session_id, [marker], [children..., root])``: the marker ends first, as in the SDK."""
        session_id = session_id or str(uuid.uuid4())
        host = {"host.name": "box", "os.type": "linux", "process.runtime.name": "cpython", "cpu.count": 2}
        base = {"session.id": session_id}
        with self.tracer.start_as_current_span(
            "agentops.session",
            attributes={
                **base,
                "agentops.span.kind": "session",
                "agentops.session.tags": list(tags),
                **host,
                **(root_attrs or {}),
            },
        ) as root:
            with self.tracer.start_as_current_span(
                "agentops.session.start",
                attributes={
                    **base,
                    "agentops.span.kind": "session.start",
                    "agentops.session.tags": list(tags),
                    **host,
                },
            ):
                pass
            marker = self.take()
            for name, attributes, status in children:
                with self.tracer.start_as_current_span(name, attributes={**base, **attributes}) as span:
                    if status is not None:
                        span.set_status(status)
            if root_status is not None:
                root.set_status(root_status)
        return session_id, marker, self.take()


ERROR = Status(StatusCode.ERROR, "boom")
OK = Status(StatusCode.OK)


def encode(spans: Sequence[ReadableSpan]) -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return bytes(encode_spans(spans).SerializeToString())


def status_of(response: requests.Response) -> tuple[int, str]:
    """``(code, message)`` of an OTLP error body: a ``google.rpc.Status``, protobuf or JSON."""
    if response.headers.get("content-type", "").startswith("application/x-protobuf"):
        from google.rpc.status_pb2 import Status

        status = Status()
        status.ParseFromString(response.content)
        return status.code, status.message
    doc = response.json()
    assert set(doc) <= {"code", "message", "details"}, doc
    return int(doc.get("code", 0)), str(doc["message"])


def partial_success(response: requests.Response) -> tuple[int, str]:
    """``(rejected_spans, error_message)`` of a 200 OTLP answer (protobuf or JSON)."""
    assert response.status_code == 200, response.text
    if response.headers.get("content-type", "").startswith("application/x-protobuf"):
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        answer = ExportTraceServiceResponse()
        answer.ParseFromString(response.content)
        return answer.partial_success.rejected_spans, answer.partial_success.error_message
    doc = response.json().get("partialSuccess") or {}
    return int(doc.get("rejectedSpans", 0)), str(doc.get("errorMessage", ""))
