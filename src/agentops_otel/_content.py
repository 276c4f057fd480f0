"""Content recorded on spans (prompts, arguments, results), bounded and safe: one serialiser, one set
of limits, for the decorators, ``record()`` and the LLM instrumentation alike.

Nothing here raises: a value that cannot be serialised is recorded by its (bounded) repr. Recorded only
with content capture on (``Configuration.capture_content``); the callers check that. What looks like a
secret is replaced by a marker first (:mod:`agentops_otel._redact`, ``Configuration.redact_secrets``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any, Final

from agentops_otel import _redact, _runtime

# The limits, in characters. One argument list or result of a decorated call (and an event's params
# or returns): small, it is a summary. One message's text: a prompt can be long. A whole content
# attribute (a conversation): past it the JSON is cut and marked.
#: Longest recorded argument or result, in characters.
MAX_CONTENT_CHARS: Final = 4096
#: Longest text of one message part; longer ones are cut (the JSON stays valid).
MAX_MESSAGE_CHARS: Final = 16384
#: Longest content attribute, in characters; longer JSON is cut and marked.
MAX_ATTRIBUTE_CHARS: Final = 32_768
#: Most messages recorded of one prompt or completion.
MAX_MESSAGES: Final = 64
MAX_ITEMS = 100  # per container
_MAX_DEPTH = 8
_MAX_NODES = 1000  # per serialised value

_NO_RESULT: Any = object()

_redactor_of: tuple[object, _redact.Redactor | None] = (None, None)


def _redactor() -> _redact.Redactor | None:
    """The redactor of the configuration in force (None when redaction is off); cached per config."""
    global _redactor_of
    config = _runtime.config()
    cached_for, redactor = _redactor_of
    if cached_for is not config:
        redactor = _redact.redactor(config.redact_secrets, tuple(config.redact_patterns))
        _redactor_of = (config, redactor)
    return redactor


def _scrub(text: str, redactor: _redact.Redactor | None) -> str:
    return redactor.text(text) if redactor is not None else text


def _safe_repr(value: Any, limit: int = MAX_CONTENT_CHARS) -> str:
    try:
        text = repr(value)
    except Exception:
        try:
            return f"<unrepresentable {type(value).__qualname__}>"
        except Exception:
            return "<unrepresentable>"
    if not isinstance(text, str):  # a broken __repr__ may return anything
        return "<unrepresentable>"
    return text if len(text) <= limit else text[:limit] + "..."


class Walker:
    """Turns any value into JSON-ready data in bounded time: limited depth, items, nodes and text."""

    __slots__ = ("chars", "nodes", "path", "redactor")

    def __init__(self) -> None:
        self.nodes = _MAX_NODES
        self.chars = MAX_CONTENT_CHARS * 2
        self.path: set[int] = set()
        self.redactor = _redactor()

    def text(self, value: str) -> str:
        value = _scrub(value, self.redactor)  # before cutting: a cut secret would no longer match
        limit = max(self.chars, 16)
        if len(value) > limit:
            value = value[:limit] + "..."
        self.chars -= len(value)
        return value

    def walk(self, value: Any, depth: int = 0) -> Any:
        self.nodes -= 1
        if self.nodes < 0 or self.chars <= 0:
            return "..."
        if value is None or isinstance(value, (bool, float)):
            return value
        if isinstance(value, int):
            # str() of an int over ~4300 digits raises; nobody wants to read it anyway.
            return int(value) if value.bit_length() <= 256 else f"<int of {value.bit_length()} bits>"
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value[:64])
            return f"<{type(value).__name__} of {len(value)} bytes: {data!r}>"
        if depth >= _MAX_DEPTH:
            return "..."
        key = id(value)
        if key in self.path:
            return "<recursive>"
        self.path.add(key)
        try:
            return self._container(value, depth)
        except Exception:
            return self.text(_safe_repr(value))
        finally:
            self.path.discard(key)

    def _container(self, value: Any, depth: int) -> Any:
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for i, (k, v) in enumerate(value.items()):
                if i >= MAX_ITEMS or self.nodes <= 0:
                    out["..."] = f"{len(value) - i} more"
                    break
                key = k if isinstance(k, str) else _safe_repr(k, 200)
                secret = self.redactor is not None and self.redactor.secret_key(key)
                if secret and v is not None and not isinstance(v, bool):
                    out[key] = _redact.MARKER
                else:
                    out[key] = self.walk(v, depth + 1)
            return out
        if isinstance(value, (list, tuple, set, frozenset)):
            items = []
            for i, v in enumerate(value):
                if i >= MAX_ITEMS or self.nodes <= 0:
                    items.append(f"... {len(value) - i} more")
                    break
                items.append(self.walk(v, depth + 1))
            return items
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
            return self._container(fields, depth)
        dump = getattr(type(value), "model_dump", None)  # pydantic v2 models
        if dump is not None and not isinstance(value, type):
            return self.walk(dump(value, mode="json"), depth + 1)
        return self.text(_safe_repr(value))


def serialize(value: Any) -> str:
    """Bounded JSON of ``value`` (repr for what JSON cannot say); never raises, at most ~4 KiB."""
    walker = Walker()
    try:
        text = json.dumps(walker.walk(value), ensure_ascii=False)
    except Exception:
        text = _safe_repr(value)
    text = _scrub(text, walker.redactor)  # also what a repr let through (and keys=values across leaves)
    if len(text) > MAX_CONTENT_CHARS:
        text = text[:MAX_CONTENT_CHARS] + "...[truncated]"
    return text


def safe_repr(value: Any, limit: int = MAX_CONTENT_CHARS) -> str:
    """``repr(value)``, bounded, secrets redacted; never raises."""
    return _scrub(_safe_repr(value, limit), _redactor())


def to_json(value: Any) -> str:
    """Compact JSON of provider data (pydantic models dumped), cut at :data:`MAX_ATTRIBUTE_CHARS`."""
    text = json.dumps(value, default=_json_default, ensure_ascii=False, separators=(",", ":"))
    text = _scrub(text, _redactor())
    if len(text) > MAX_ATTRIBUTE_CHARS:
        text = text[: MAX_ATTRIBUTE_CHARS - 15] + "...[truncated]"
    return text


def _json_default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(mode="json", exclude_none=True)
        except Exception:
            pass
    return repr(value)


def text(value: Any) -> str:
    """A message's text: a string cut at :data:`MAX_MESSAGE_CHARS`, anything else :func:`serialize`d."""
    if isinstance(value, str):
        scrubbed = _scrub(value, _redactor())
        return scrubbed if len(scrubbed) <= MAX_MESSAGE_CHARS else scrubbed[:MAX_MESSAGE_CHARS] + "..."
    return serialize(value)


def _message(item: Any, default_role: str) -> dict[str, Any]:
    if isinstance(item, dict) and "role" in item:
        content = item.get("content")
        return {"role": str(item["role"]), "parts": [{"type": "text", "content": text(content)}]}
    return {"role": default_role, "parts": [{"type": "text", "content": text(item)}]}


def messages_json(value: Any, default_role: str) -> str:
    """A prompt or completion (text, a message dict, or a list of them) as GenAI messages JSON."""
    items = value[:MAX_MESSAGES] if isinstance(value, (list, tuple)) else [value]
    return json.dumps([_message(item, default_role) for item in items], ensure_ascii=False)
