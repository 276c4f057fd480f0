"""What every LLM wrapper shares: the span of one call, its end, metrics, and error isolation.

A wrapper does three things around the provider's method: prepare the call (``LLMCall``), run the
method under a context where the baggage member ``session.id`` is removed (so no HTTP header carries it
to the provider; it is held under :data:`HELD_SESSION` so spans made inside still get ``session.id``),
then read the result. Any failure of ours is logged at debug level and the call goes on untouched;
exceptions of the call are recorded and re-raised unchanged.

One LLM span per call, whichever GenAI instrumentations are loaded. Our CLIENT span is started only
once the provider method has returned (with the call's start time), so we know by then whether another
instrumentation recorded the call:

- it wraps ours (its LLM span is current when our wrapper runs), or
- it sits under ours (its LLM span starts inside our call; the session span processor tells the
  ``LLMCall`` in the context, :meth:`LLMCall.adopt`).

Then we make no span of our own and *enrich theirs* instead: ``agentops.span.kind=llm``, the cost, and
what we read that they lack (e.g. token usage of a stream whose usage chunk we asked for). Nothing of
the response is hidden from them; the usage chunk we add to a stream is hidden from the caller only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Span

from agentops_otel import _sdk_compat, semconv
from agentops_otel.instrumentation._call import LLMCall as LLMCall
from agentops_otel.instrumentation._call import start_call as start_call
from agentops_otel.instrumentation._keys import HELD_SESSION as HELD_SESSION
from agentops_otel.instrumentation._keys import IN_LLM_CALL as IN_LLM_CALL
from agentops_otel.instrumentation._keys import LLM_WATCH as LLM_WATCH
from agentops_otel.instrumentation._keys import attach_context as attach_context
from agentops_otel.instrumentation._keys import current_context, records_llm_call
from agentops_otel.instrumentation._telemetry import SCOPE as SCOPE
from agentops_otel.instrumentation._telemetry import Telemetry as Telemetry
from agentops_otel.instrumentation._telemetry import debug_failure as debug_failure

logger = logging.getLogger("agentops_otel.instrumentation")


# OpenLLMetry's key (a plain string) for "a framework already records this LLM call".
_SUPPRESS_INSTRUMENTATION_KEY = _sdk_compat.SUPPRESS_INSTRUMENTATION_KEY
_SUPPRESS_HTTP_KEY = _sdk_compat.SUPPRESS_HTTP_INSTRUMENTATION_KEY
_SUPPRESS_LLM_KEY = _sdk_compat.SUPPRESS_LLM_INSTRUMENTATION_KEY
_SPAN_KEY = _sdk_compat.SPAN_KEY

_OMITTED = frozenset({"Omit", "NotGiven"})


def given(value: Any) -> bool:
    """False for None and the SDKs' ``omit`` / ``NOT_GIVEN`` sentinels."""
    return value is not None and type(value).__name__ not in _OMITTED


def unsuppressed_context() -> Context | None:
    """The current context, or None inside another LLM span of ours or when instrumentation is
    suppressed (contrib's key or OpenLLMetry's). A Context is a dict: plain ``get`` is what
    ``get_value`` does, without a call per key."""
    ctx = current_context()
    if ctx.get(IN_LLM_CALL) or ctx.get(_SUPPRESS_INSTRUMENTATION_KEY) or ctx.get(_SUPPRESS_LLM_KEY):
        return None
    return ctx


def is_suppressed() -> bool:
    """Inside another LLM span of ours, or instrumentation suppressed (contrib's key or OpenLLMetry's)."""
    return unsuppressed_context() is None


def call_context(call: Any, ctx: Context | None = None) -> Context:
    """The context a provider call runs in: ``call`` marked as in progress, no ``session.id`` baggage
    member, and HTTP instrumentation suppressed.

    An HTTP client instrumentation (httpx, requests) would add a second client span and inject our
    ``traceparent`` into a request to the LLM provider, which must carry no trace headers of ours. The
    session member is kept under :data:`HELD_SESSION`, so a span another instrumentation makes inside
    still gets the session. ``ctx`` is the caller's context when already read (default: current).
    """
    if ctx is None:
        ctx = otel_context.get_current()
    # Calls in a loop run in the same caller context: what is derived from it (the baggage without
    # the member, HTTP suppressed) is kept for the last one, so a call makes one context copy.
    last = _last_base
    base = last[1] if last is not None and last[0] is ctx else _base_context(ctx)
    return Context({**base, IN_LLM_CALL: call})


#: (caller context, its call context without the call). Contexts are immutable: identity is enough.
_last_base: tuple[Context, Context] | None = None


def _base_context(ctx: Context) -> Context:
    global _last_base
    held = baggage.get_all(ctx).get(semconv.BAGGAGE_SESSION_ID)
    if held is None:
        base = Context({**ctx, _SUPPRESS_HTTP_KEY: True})
    else:
        without = baggage.remove_baggage(semconv.BAGGAGE_SESSION_ID, ctx)
        base = Context({**without, _SUPPRESS_HTTP_KEY: True, HELD_SESSION: held})
    _last_base = (ctx, base)
    return base


def context_without_session_baggage() -> Context | None:
    """For calls we do not record: a context without the baggage member, or None if there is none."""
    ctx = otel_context.get_current()
    held = baggage.get_all(ctx).get(semconv.BAGGAGE_SESSION_ID)
    if held is None:
        return None
    return otel_context.set_value(HELD_SESSION, held, baggage.remove_baggage(semconv.BAGGAGE_SESSION_ID, ctx))


def foreign_llm_span(ctx: Context) -> Span | None:
    """The current span of ``ctx`` when it is another instrumentation's open LLM span (it wraps ours)."""
    global _not_foreign
    span: Any = ctx.get(_SPAN_KEY)
    if span is None or span is _not_foreign or not span.is_recording():
        return None
    attributes = getattr(span, "attributes", None)
    if attributes is not None and semconv.SPAN_KIND in attributes:
        # One of our spans (the session root, an agent): it never becomes another's LLM span.
        _not_foreign = span
        return None
    return span if records_llm_call(attributes) else None  # type: ignore[no-any-return]


#: The last span found to be ours (with ``agentops.span.kind``): calls under it skip the check.
_not_foreign: Any = None


def text_parts(content: Any) -> list[dict[str, Any]]:
    """Semconv message parts from a string or a list of provider content blocks."""
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    if isinstance(content, (list, tuple)):
        for block in content:
            kind = _get(block, "type")
            if kind in ("text", "input_text", "output_text"):
                parts.append({"type": "text", "content": _get(block, "text")})
            elif kind is not None:
                parts.append({"type": str(kind)})
    return parts


def _get(obj: Any, name: str) -> Any:
    """``obj[name]`` of a mapping, else the attribute; None when missing."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    value = getattr(obj, name, None)
    # The Mapping ABC check is slow: only made when the attribute read found nothing.
    if value is None and isinstance(obj, Mapping):
        return obj.get(name)
    return value


get = _get


_servers: dict[int, tuple[Any, tuple[tuple[str, Any], ...]]] = {}
_DEFAULT_PORTS = {"https": 443, "http": 80}


def server_attributes(client: Any, out: dict[str, Any]) -> None:
    """``server.address``/``server.port`` from the SDK client's base URL (read once per URL object)."""
    # The SDKs keep the URL in ``_base_url``; the public ``base_url`` property of openai >= 3 runs an
    # import statement on every read (~1 us), so the stored value is read first.
    url = getattr(client, "_base_url", None)
    if url is None:
        url = getattr(client, "base_url", None)
        if url is None:
            return
    # Keyed by identity; the entry holds the URL, so its id is not reused while cached.
    entry = _servers.get(id(url))
    if entry is None or entry[0] is not url:
        found: list[tuple[str, Any]] = []
        host = getattr(url, "host", None)
        if isinstance(host, str) and host:
            found.append((semconv.SERVER_ADDRESS, host))
            port = getattr(url, "port", None)
            if not isinstance(port, int):  # httpx leaves the scheme's default port out
                port = _DEFAULT_PORTS.get(str(getattr(url, "scheme", "")))
            if isinstance(port, int):
                found.append((semconv.SERVER_PORT, port))
        entry = (url, tuple(found))
        if len(_servers) >= 256:
            _servers.clear()
        _servers[id(url)] = entry
    out.update(entry[1])


# Raw responses: ``with_raw_response`` returns the SDK's response object, whose ``parse()`` caches
# the parsed value per type. The wrapper parses (what the user does next anyway) and, for a stream,
# puts its proxy in that cache so ``parse()`` hands the user the proxy.
_RAW_HEADER = "X-Stainless-Raw-Response"


def raw_mode(kwargs: Mapping[str, Any]) -> str | None:
    """``"raw"`` for with_raw_response, ``"stream"`` for with_streaming_response, else None."""
    headers = kwargs.get("extra_headers")
    if not headers:
        return None
    try:
        value = headers.get(_RAW_HEADER)
    except Exception:
        return None
    if value is None:
        return None
    return "stream" if value == "stream" else "raw"


def replace_parsed(raw: Any, parsed: Any, replacement: Any) -> bool:
    cache = getattr(raw, "_parsed_by_type", None)
    if not isinstance(cache, dict):
        return False
    for key, value in list(cache.items()):
        if value is parsed:
            cache[key] = replacement
            return True
    return False


Finisher = Callable[[LLMCall, Any], None]
