"""One LLM span per provider call with other GenAI instrumentations loaded (issue 10, item 4): the
contrib ``opentelemetry-instrumentation-openai-v2`` instrumenting before or after us, and Logfire's
``instrument_openai``. Each scenario is a fresh process with the user's own provider and exporter and
the real backend; the OpenAI SDK talks to a canned server on 127.0.0.1 (plain and streamed chat)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backend_fixtures import ApiClient, BackendServer
from canned_openai import USER_PROVIDER, CannedChat, canned_chat  # noqa: F401  (fixture)
from core_helpers import read_spans, run_script
from llm_fixtures import CHAT_COMPLETION, USAGE_CHUNK
from process_fixtures import backend_env, wait_for_session

CALLS = """
from openai import OpenAI

llm = OpenAI()
messages = [{"role": "user", "content": "Hi"}]
llm.chat.completions.create(model="gpt-4o-mini", messages=messages)
chunks = list(llm.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True))
print(json.dumps({"sid": sid, "empty_chunks": sum(1 for c in chunks if not c.choices)}))
agentops_otel.end_session()
"""

CONTRIB = """
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as ContribOpenAI
"""

SCENARIOS = {
    # contrib instruments after init: it wraps our wrapper (its span is current when ours runs)
    "contrib-after-init": "sid = agentops_otel.init()\nContribOpenAI().instrument()\n",
    # contrib instruments first: ours wraps it (its span starts inside our call)
    "contrib-before-init": "ContribOpenAI().instrument()\nsid = agentops_otel.init()\n",
}


def _run(tmp_path: Path, setup: str, env: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    spans_file = tmp_path / "spans.jsonl"
    body = (
        USER_PROVIDER
        + """
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(JsonLines()))
trace.set_tracer_provider(provider)
import agentops_otel
"""
        + setup
        + CALLS
    )
    proc = run_script(body, tmp_path, env={**env, "SPANS_FILE": str(spans_file)}, timeout=90)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), read_spans(spans_file)


def _llm_spans(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in spans if s["attributes"].get("gen_ai.operation.name") == "chat"]


def _check_figures(api: ApiClient, project: dict[str, str], sid: str) -> None:
    session = wait_for_session(api, project, sid, lambda s: s["end_time"] is not None and s["llm_calls"] >= 2)
    assert session["llm_calls"] == 2
    assert (
        session["prompt_tokens"]
        == CHAT_COMPLETION["usage"]["prompt_tokens"] + USAGE_CHUNK["usage"]["prompt_tokens"]
    )
    assert session["cost_usd"] > 0


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_contrib_openai_v2_and_ours_one_span_per_call(
    tmp_path: Path,
    backend: BackendServer,
    api: ApiClient,
    project: dict[str, str],
    canned_chat: CannedChat,  # noqa: F811
    scenario: str,
) -> None:
    pytest.importorskip("opentelemetry.instrumentation.openai_v2")
    env = {**backend_env(backend, project), **canned_chat.env()}
    out, spans = _run(tmp_path, CONTRIB + SCENARIOS[scenario], env)
    llm = _llm_spans(spans)
    assert len(llm) == 2, [(s["name"], s["scope"]) for s in spans]  # one per call, not two
    assert all(s["scope"] != "agentops_otel.instrumentation" for s in llm)  # theirs, enriched
    for span in llm:
        a = span["attributes"]
        assert a["agentops.span.kind"] == "llm"
        assert a["session.id"] == out["sid"]
        assert a["agentops.usage.cost_usd"] > 0
    usage = [
        (s["attributes"]["gen_ai.usage.input_tokens"], s["attributes"]["gen_ai.usage.output_tokens"])
        for s in llm
    ]
    assert sorted(usage) == sorted(
        [
            (CHAT_COMPLETION["usage"]["prompt_tokens"], CHAT_COMPLETION["usage"]["completion_tokens"]),
            (USAGE_CHUNK["usage"]["prompt_tokens"], USAGE_CHUNK["usage"]["completion_tokens"]),
        ]
    )  # the stream's usage too, though only we asked for it
    assert out["empty_chunks"] == 0  # the usage chunk we asked for never reaches the caller
    # The stream asked for usage once, the plain call not at all.
    assert [b.get("stream_options") for b in canned_chat.bodies] == [None, {"include_usage": True}]
    assert all("traceparent" not in h and "baggage" not in h for h in canned_chat.headers)
    _check_figures(api, project, out["sid"])


def test_user_asked_for_usage_sees_the_usage_chunk(
    tmp_path: Path,
    backend: BackendServer,
    project: dict[str, str],
    canned_chat: CannedChat,  # noqa: F811
) -> None:
    """A caller who set stream_options gets the usage chunk, and so does the outer instrumentation."""
    pytest.importorskip("opentelemetry.instrumentation.openai_v2")
    setup = CONTRIB + SCENARIOS["contrib-after-init"]
    calls = """
from openai import OpenAI
llm = OpenAI()
chunks = list(llm.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True,
    stream_options={"include_usage": True},
))
print(json.dumps({"sid": sid, "empty_chunks": sum(1 for c in chunks if not c.choices)}))
agentops_otel.end_session()
"""
    spans_file = tmp_path / "spans.jsonl"
    body = (
        USER_PROVIDER
        + "provider = TracerProvider()\nprovider.add_span_processor(SimpleSpanProcessor(JsonLines()))\n"
        + "trace.set_tracer_provider(provider)\nimport agentops_otel\n"
        + setup
        + calls
    )
    env = {**backend_env(backend, project), **canned_chat.env(), "SPANS_FILE": str(spans_file)}
    proc = run_script(body, tmp_path, env=env, timeout=90)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["empty_chunks"] == 1
    (span,) = _llm_spans(read_spans(spans_file))
    assert span["attributes"]["gen_ai.usage.input_tokens"] == USAGE_CHUNK["usage"]["prompt_tokens"]


def test_logfire_instrument_openai_and_ours_one_span_per_call(
    tmp_path: Path,
    backend: BackendServer,
    api: ApiClient,
    project: dict[str, str],
    canned_chat: CannedChat,  # noqa: F811
) -> None:
    pytest.importorskip("logfire")
    env = {**backend_env(backend, project), **canned_chat.env()}
    setup = """
import logfire
logfire.configure(send_to_logfire=False, console=False, additional_span_processors=[SimpleSpanProcessor(JsonLines())])
sid = agentops_otel.init()
logfire.instrument_openai()
"""
    spans_file = tmp_path / "spans.jsonl"
    body = USER_PROVIDER + "import agentops_otel\n" + setup + CALLS
    proc = run_script(body, tmp_path, env={**env, "SPANS_FILE": str(spans_file)}, timeout=90)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    spans = read_spans(spans_file)
    llm = [s for s in spans if s["attributes"].get("agentops.span.kind") == "llm"]
    assert len(llm) == 2, [(s["name"], s["scope"], s["attributes"].get("agentops.span.kind")) for s in spans]
    assert all(s["scope"] != "agentops_otel.instrumentation" for s in llm)  # Logfire's, enriched
    assert out["empty_chunks"] == 0
    _check_figures(api, project, out["sid"])
