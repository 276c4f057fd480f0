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
