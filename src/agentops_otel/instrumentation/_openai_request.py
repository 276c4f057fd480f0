"""The request side of the ``openai`` instrumentation, shared by chat, the Responses API, embeddings and
LiteLLM: request parameters as attributes, a client's ``server.*`` attributes and provider (read once
per base URL, in a call template), the call's start, and token usage of a chat completion."""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from opentelemetry.context import Context

from agentops_otel import _runtime, semconv
from agentops_otel.instrumentation._call import CallTemplate, call_template, open_call
from agentops_otel.instrumentation._core import LLMCall, Telemetry, get, given, server_attributes
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
_PARAMS = frozenset({*_NUMBER_PARAMS, "stream", *_OTHER_PARAMS})


def request_params(kwargs: dict[str, Any], out: dict[str, Any]) -> None:
    # The recorded parameters among those passed, found in one C call (usually a few of a handful of
    # names), instead of a lookup per known parameter; the less common ones are read only when present.
    present = _PARAMS.intersection(kwargs)
    if not present:
        return
    others = False
    for name in present:
        value = kwargs[name]
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


#: (id of the base URL, id of the configuration, operation, API type, model) -> (the URL, the
#: configuration, the template). An entry holds the two objects, so no other can have their ids while
#: it is kept: a hit needs no identity check.
_templates: dict[tuple[int, int, str, str | None, Any], tuple[Any, Any, CallTemplate]] = {}


def call_template_of(client: Any, operation: str, api: str | None, model: Any) -> CallTemplate:
    """The template of a client's calls: its ``server.*`` attributes and provider, the API type, the
    model. Kept per base URL object (the SDK's ``_base_url``, replaced when it changes) and configuration
    (``init`` makes a new one), so that a call copies its start attributes instead of building them."""
    url = getattr(client, "_base_url", None)
    config = _runtime.config()
    key = (id(url), id(config), operation, api, model)
    try:
        entry = _templates.get(key)
    except TypeError:  # a model the SDK would send as JSON but no dict key can be
        entry, key = None, (id(url), id(config), operation, api, "")
    if entry is not None:
        return entry[2]
    attributes: dict[str, Any] = {}
    server_attributes(client, attributes)
    provider = provider_of_attributes(attributes, semconv.PROVIDER_OPENAI)
    if api is not None:
        attributes[semconv.OPENAI_API_TYPE] = api
    template = call_template(operation, provider, key[4], attributes)
    if url is not None:
        if len(_templates) >= 256:
            _templates.clear()
        _templates[key] = (url, config, template)
    return template


def begin_call(
    telemetry: Telemetry,
    client: Any,
    kwargs: dict[str, Any],
    operation: str,
    api: str | None,
    ctx: Context | None = None,
) -> LLMCall | None:
    """The call of a chat, Responses or embeddings request (``api`` None: no request parameters)."""
    tracer = telemetry.recording_tracer()
    if tracer is None:
        return None
    call = open_call(telemetry, tracer, call_template_of(client, operation, api, kwargs.get("model")), ctx)
    if api is not None:
        attributes = call.start_attributes
        request_params(kwargs, attributes)
        if "response_format" in kwargs or "text" in kwargs:
            output_type = _output_type(kwargs)
            if output_type is not None:
                attributes[semconv.OUTPUT_TYPE] = output_type
    return call


def field(obj: Any, name: str) -> Any:
    """``get`` for a typed model first: an attribute read, the mapping path only when it is missing."""
    value = getattr(obj, name, None)
    return get(obj, name) if value is None and obj is not None else value


_USAGE_NAMES = ("prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details")
_USAGE_FIELDS = attrgetter(*_USAGE_NAMES)


def usage_of_chat(call: LLMCall, usage: Any) -> None:
    if usage is None:
        return
    # The SDK's typed usage: its fields in one C call. Anything else, a mapping (LiteLLM's, JSON) or an
    # older SDK's usage without the details fields, goes through ``field`` name by name.
    try:
        prompt, completion, prompt_details, completion_details = _USAGE_FIELDS(usage)
    except AttributeError:
        prompt, completion, prompt_details, completion_details = (field(usage, n) for n in _USAGE_NAMES)
    cached = field(prompt_details, "cached_tokens") if prompt_details is not None else None
    reasoning = field(completion_details, "reasoning_tokens") if completion_details is not None else None
    call.set_usage(prompt, completion, cached, None, reasoning)
