"""The request side of the ``openai`` instrumentation, shared by chat, the Responses API, embeddings and
LiteLLM: request parameters as attributes, a client's ``server.*`` attributes and provider (read once
per base URL), the call's start, and token usage of a chat completion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.context import Context

from agentops_otel import _runtime, semconv
from agentops_otel.instrumentation._core import LLMCall, Telemetry, get, given, server_attributes, start_call
from agentops_otel.instrumentation._providers import provider_of_attributes

_NUMBER_PARAMS = {
    "temperature": semconv.REQUEST_TEMPERATURE,
    "top_p": semconv.REQUEST_TOP_P,
    "frequency_penalty": semconv.REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": semconv.REQUEST_PRESENCE_PENALTY,
    "seed": semconv.REQUEST_SEED,
}
_MAX_TOKENS_PARAMS = ("max_completion_tokens", "max_tokens", "max_output_tokens")
_OTHER_PARAMS = frozenset({*_MAX_TOKENS_PARAMS, "stop", "n", "service_tier"})


def request_params(kwargs: dict[str, Any], out: dict[str, Any]) -> None:
    # One pass over what the caller passed (usually a handful of names) instead of a lookup per
    # known parameter; the less common ones are read only when one of them is present.
    others = False
    for name, value in kwargs.items():
        key = _NUMBER_PARAMS.get(name)
        if key is not None:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[key] = value
        elif name == "stream":
            if value is True:
                out[semconv.REQUEST_STREAM] = True
        elif name in _OTHER_PARAMS:
            others = True
    if not others:
        return
    for name in _MAX_TOKENS_PARAMS:
        value = kwargs.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            out[semconv.REQUEST_MAX_TOKENS] = value
            break
    stop = kwargs.get("stop")
    if isinstance(stop, str):
        out[semconv.REQUEST_STOP_SEQUENCES] = [stop]
    elif isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop):
        out[semconv.REQUEST_STOP_SEQUENCES] = list(stop)
    n = kwargs.get("n")
    if isinstance(n, int) and n != 1:
        out[semconv.REQUEST_CHOICE_COUNT] = n
    tier = kwargs.get("service_tier")
    if isinstance(tier, str):
        out[semconv.OPENAI_REQUEST_SERVICE_TIER] = tier


def _output_type(kwargs: dict[str, Any]) -> str | None:
    """``gen_ai.output.type`` when a format is requested: chat ``response_format``, Responses ``text``."""
    fmt = kwargs.get("response_format")
    if fmt is None or not given(fmt):
        fmt = get(kwargs.get("text"), "format") if given(kwargs.get("text")) else None
    if fmt is None or not given(fmt):
        return None
    if isinstance(fmt, type):  # parse(response_format=SomeModel)
        return semconv.OUTPUT_JSON
    kind = get(fmt, "type")
    if kind in ("json_schema", "json_object"):
        return semconv.OUTPUT_JSON
    return semconv.OUTPUT_TEXT if kind == "text" else None


_clients: dict[int, tuple[Any, Any, tuple[tuple[str, Any], ...], str]] = {}


def client_attributes(client: Any) -> tuple[tuple[tuple[str, Any], ...], str]:
    """``server.*`` attributes and the provider of a client, read once per base URL object (and
    configuration of provider hosts): the URL is the SDK's ``_base_url``, replaced when it changes."""
    url = getattr(client, "_base_url", None)
    hosts = _runtime.config().provider_hosts
    entry = _clients.get(id(url)) if url is not None else None
    if entry is not None and entry[0] is url and entry[1] is hosts:
        return entry[2], entry[3]
    attributes: dict[str, Any] = {}
    server_attributes(client, attributes)
    provider = provider_of_attributes(attributes, semconv.PROVIDER_OPENAI)
    items = tuple(attributes.items())
    if url is not None:
        if len(_clients) >= 256:
            _clients.clear()
        _clients[id(url)] = (url, hosts, items, provider)  # holds the URL: its id is not reused
    return items, provider


def begin_call(
    telemetry: Telemetry,
    client: Any,
    kwargs: dict[str, Any],
    operation: str,
    api: str | None,
    ctx: Context | None = None,
) -> LLMCall | None:
    """The span of a chat, Responses or embeddings call, with its server and provider."""
    static, provider = client_attributes(client)
    attributes: dict[str, Any] = dict(static)
    if api is not None:
        request_params(kwargs, attributes)
        attributes[semconv.OPENAI_API_TYPE] = api
        if "response_format" in kwargs or "text" in kwargs:
            output_type = _output_type(kwargs)
            if output_type is not None:
                attributes[semconv.OUTPUT_TYPE] = output_type
    return start_call(telemetry, operation, provider, kwargs.get("model"), attributes, ctx)


def field(obj: Any, name: str) -> Any:
    """``get`` for a typed model first: an attribute read, the mapping path only when it is missing."""
    value = getattr(obj, name, None)
    return get(obj, name) if value is None and obj is not None else value


def usage_of_chat(call: LLMCall, usage: Any) -> None:
    if usage is None:
        return
    # The SDK's typed usage: plain attribute reads (whose misses, e.g. no token details, would each
    # cost ``field`` a Mapping ABC check); a mapping (LiteLLM's, JSON) goes through ``field``.
    prompt = getattr(usage, "prompt_tokens", None)
    if prompt is None and isinstance(usage, Mapping):
        _usage_of_mapping(call, usage)
        return
    completion = getattr(usage, "completion_tokens", None)
    details = getattr(usage, "prompt_tokens_details", None)
    cached = field(details, "cached_tokens") if details is not None else None
    details = getattr(usage, "completion_tokens_details", None)
    reasoning = field(details, "reasoning_tokens") if details is not None else None
    call.set_usage(prompt, completion, cached, None, reasoning)


def _usage_of_mapping(call: LLMCall, usage: Mapping[str, Any]) -> None:
    details = field(usage, "prompt_tokens_details")
    cached = field(details, "cached_tokens") if details is not None else None
    details = field(usage, "completion_tokens_details")
    reasoning = field(details, "reasoning_tokens") if details is not None else None
    call.set_usage(field(usage, "prompt_tokens"), field(usage, "completion_tokens"), cached, None, reasoning)
