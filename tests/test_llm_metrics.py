"""GenAI client metrics: names, units, buckets and attributes (no session or user ids)."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from opentelemetry import context as otel_context

from agentops_otel import semconv
from agentops_otel._internal.context import with_session
from llm_fixtures import (
    CHAT_CHUNKS,
    CHAT_COMPLETION,
    USAGE_CHUNK,
    Recording,
    Server,
    json_response,
    openai_client,
    openai_recording,  # noqa: F401  (the ``rec`` fixture)
    sse,
    sse_response,
)

MESSAGES = [{"role": "user", "content": "hi"}]


def _metrics(rec: Recording) -> dict[str, Any]:
    data = rec.metric_reader.get_metrics_data()
    out: dict[str, Any] = {}
    for resource_metrics in data.resource_metrics if data else ():
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                out[metric.name] = metric
    return out


def test_token_usage_and_duration(rec: Recording) -> None:
    token = otel_context.attach(with_session(None, "5f0c9a57-2a6e-4d5b-9a53-0f3f8b7e9b11"))
    try:
        openai_client(Server(json_response(CHAT_COMPLETION))).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES
        )
        list(
            openai_client(Server(sse_response(sse([*CHAT_CHUNKS, USAGE_CHUNK])))).chat.completions.create(
                model="gpt-4o", messages=MESSAGES, stream=True
            )
        )
        with pytest.raises(openai.InternalServerError):
            openai_client(Server(json_response({"error": {}}, status=500))).chat.completions.create(
                model="gpt-4o", messages=MESSAGES
            )
    finally:
        otel_context.detach(token)
    metrics = _metrics(rec)
    usage = metrics[semconv.METRIC_TOKEN_USAGE]
    duration = metrics[semconv.METRIC_OPERATION_DURATION]
    assert usage.unit == "{token}"
    assert duration.unit == "s"
    points = list(usage.data.data_points)
    assert tuple(points[0].explicit_bounds) == tuple(float(b) for b in semconv.TOKEN_BUCKETS)
    by_key = {(p.attributes["gen_ai.request.model"], p.attributes["gen_ai.token.type"]): p for p in points}
    assert by_key[("gpt-4o-mini", "input")].sum == 1200
    assert by_key[("gpt-4o-mini", "output")].sum == 300
    assert by_key[("gpt-4o", "input")].sum == 10
    dpoints = list(duration.data.data_points)
    assert tuple(dpoints[0].explicit_bounds) == semconv.DURATION_BUCKETS
    assert sum(p.count for p in dpoints) == 3
    errors = [p for p in dpoints if "error.type" in p.attributes]
    assert len(errors) == 1 and errors[0].attributes["error.type"] == "openai.InternalServerError"
    for point in [*points, *dpoints]:
        keys = set(point.attributes)
        assert not any("session" in k or "user" in k for k in keys), keys
        assert keys <= {
            "gen_ai.operation.name",
            "gen_ai.provider.name",
            "gen_ai.request.model",
            "gen_ai.response.model",
            "gen_ai.token.type",
            "error.type",
        }
    assert semconv.METRIC_TIME_TO_FIRST_CHUNK in metrics


_GLOBAL_METER_SCRIPT = """
import json, sys
import openai
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from agentops_otel.instrumentation.openai import OpenAIInstrumentor

OpenAIInstrumentor().instrument(tracer_provider=TracerProvider())  # no meter provider: the global one
client = openai.OpenAI(base_url=sys.argv[1], api_key="sk-test")
ask = lambda: client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
ask()  # no global meter provider yet: nothing is recorded, and nothing fails
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
ask()
ask()
points = {}
for rm in reader.get_metrics_data().resource_metrics:
    for sm in rm.scope_metrics:
        for m in sm.metrics:
            points[m.name] = [(dict(p.attributes), p.count, p.sum) for p in m.data.data_points]
print(json.dumps(points))
"""


def test_metrics_reach_a_global_meter_provider_set_after_instrumenting(tmp_path: Any) -> None:
    """Instrumented without a meter provider, calls record into the global one from when it is set:
    the calls before it (whose records the global meter would drop) are skipped, not the ones after."""
    import json
    import subprocess
    import sys

    from canned_http import chat_server

    with chat_server(lambda request: ({"role": "assistant", "content": "hello"}, "stop")) as url:
        out = subprocess.run(
            [sys.executable, "-c", _GLOBAL_METER_SCRIPT, url], capture_output=True, text=True, timeout=120
        )
    assert out.returncode == 0, out.stderr
    points = json.loads(out.stdout)
    (duration,) = points[semconv.METRIC_OPERATION_DURATION]
    assert duration[1] == 2  # the two calls made after the provider was set
    tokens = {p[0]["gen_ai.token.type"]: p[2] for p in points[semconv.METRIC_TOKEN_USAGE]}
    assert tokens == {"input": 2400, "output": 600}
