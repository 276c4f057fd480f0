"""Spans at rest: blocks of one session's spans, compressed, and the span objects read back from them.

Why blocks (measured in docs/performance.md): a row per span with its attributes as JSON took about
890 bytes per LLM-like span on disk, 25 times its size on the wire (gzip'd OTLP protobuf, 32-66 bytes);
a row per span with interned keys and its own compressed attributes still took 160-180, because each
span's ids, times and values are too short to compress alone. Spans of one session that arrive
together compress together, as they did on the wire: a block is the JSON of a list of spans, deflated
with a preset dictionary of the usual attribute names (so a block of one span compresses too).

- ``data``: each span as a list (:data:`FIELDS`), its long values left out: every content attribute
  (prompts, completions, inputs, outputs: :func:`~agentops_otel.store.genai.is_content_key`) and any
  string longer than :data:`LARGE_VALUE`, which go to ``extra``, compressed separately. A page of a
  session's spans (the compact form) reads ``data`` only; text search reads ``extra`` only.
- ``ids``: 8 bytes per span, uncompressed: the span id, or for a span of another trace than the
  session's own (a non-UUID ``session.id`` spans traces) a 64-bit digest of trace and span id. How a
  batch sent again is recognised without decompressing anything. ``llm``: the keys of the block's
  model-call spans and of their parents (16 bytes each), so that a call nested across batches is found.
- Blocks of a session that arrive in small batches are merged as they accumulate
  (:func:`merge_groups`): 4 blocks of one size class become one, so a span is rewritten at most 4 times.

Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import uuid
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from agentops_otel import semconv
from agentops_otel.store import genai
from agentops_otel.store.records import STATUS_NAMES, SpanRecord

#: String attribute values longer than this live in ``extra`` (and the compact form leaves them out).
LARGE_VALUE = 1024
#: Blocks of this many spans or more are never merged again.
_MERGE_LIMIT = 1024
#: Blocks of one size class merged at once (size classes: under 4, 16, 64, 256, 1024 spans).
_MERGE_COUNT = 4
#: The codec of new blocks: raw deflate with the preset dictionary below, level 6.
CODEC = 1
_LEVEL = 6

# The preset dictionary of codec 1: what spans usually say. Deflate looks back into it, so even a block
# of one span finds its keys there. Never change it: make a new codec (and keep this one readable).
_ZDICT_1 = json.dumps(
    [
        semconv.SESSION_ID,
        semconv.SPAN_KIND,
        "llm",
        "tool",
        "agent",
        "action",
        semconv.OPERATION_NAME,
        "chat",
        "execute_tool",
        "invoke_agent",
        "embeddings",
        semconv.PROVIDER_NAME,
        "openai",
        "anthropic",
        semconv.REQUEST_MODEL,
        semconv.RESPONSE_MODEL,
        semconv.RESPONSE_ID,
        "chatcmpl-",
        semconv.RESPONSE_FINISH_REASONS,
        '["stop"]',
        semconv.USAGE_INPUT_TOKENS,
        semconv.USAGE_OUTPUT_TOKENS,
        semconv.USAGE_CACHE_READ_INPUT_TOKENS,
        semconv.COST_USD,
        semconv.REQUEST_TEMPERATURE,
        semconv.REQUEST_MAX_TOKENS,
        semconv.REQUEST_STREAM,
        semconv.SERVER_ADDRESS,
        "api.openai.com",
        semconv.SERVER_PORT,
        semconv.TOOL_NAME,
        semconv.TOOL_TYPE,
        "function",
        semconv.AGENT_NAME,
        semconv.AGENT_ID,
        semconv.ERROR_TYPE,
        "exception",
        "exception.type",
        "exception.message",
        "exception.stacktrace",
        "exception.escaped",
        "Traceback (most recent call last):\n  File ",
        "http.request.method",
        "http.response.status_code",
        "url.full",
        semconv.INPUT_MESSAGES,
        semconv.OUTPUT_MESSAGES,
        '[{"role":"user","parts":[{"type":"text","content":"',
        '[{"role":"assistant","parts":[{"type":"text","content":"',
        '"finish_reason":"stop"}]',
    ],
    separators=(",", ":"),
).encode()

# The fields of a span in ``data`` (a JSON list, in this order).
(TRACE, SPAN, PARENT, NAME, KIND, SPAN_KIND, START, DURATION, STATUS, MESSAGE, ATTRIBUTES, EVENTS, LINKS,
 SCOPE, RESOURCE, TRACE_STATE, OMITTED) = range(17)  # fmt: skip
FIELDS = 17
_STATUS_CODE = {name: code for code, name in enumerate(STATUS_NAMES)}


def home_trace(session_id: str) -> str | None:
    """The trace id a session's own spans have: its UUID's hex (SPEC.md section 3), else None."""
    if len(session_id) != 36:
        return None
    try:
        return uuid.UUID(session_id).hex
    except ValueError:
        return None


def span_key(trace_id: str, span_id: str, home: str | None) -> bytes:
    """The 8 bytes that identify a span within its session (see the module docstring)."""
    if trace_id == home:
        return bytes.fromhex(span_id)
    return hashlib.blake2b(bytes.fromhex(trace_id + span_id), digest_size=8).digest()


_NO_PARENT = bytes(8)


def keys_of(blob: bytes | memoryview | None) -> list[bytes]:
    raw = bytes(blob or b"")
    return [raw[i : i + 8] for i in range(0, len(raw), 8)]


def compress(value: Any) -> bytes:
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:  # a lone surrogate (from an SDK attribute): no database can keep it
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace")
    deflate = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15, zdict=_ZDICT_1)
    return deflate.compress(text) + deflate.flush()


def inflate(blob: bytes | memoryview, codec: int = CODEC) -> bytes:
    """A block's JSON text (UTF-8)."""
    if codec != 1:
        raise ValueError(f"a span block of an unknown codec ({codec}): written by a newer agentops-otel")
    stream = zlib.decompressobj(-15, zdict=_ZDICT_1)
    return stream.decompress(bytes(blob)) + stream.flush()


def decompress(blob: bytes | memoryview, codec: int = CODEC) -> Any:
    return json.loads(inflate(blob, codec))


class Encoded:
    """One block to write: its spans' keys, data and extra, and what the reads need to know of it."""

    __slots__ = ("data", "extra", "has_content", "ids", "last_start_ns", "llm", "spans", "start_ns")

    def __init__(self, entries: list[list[Any]], keys: list[bytes], llm: list[bytes], extra: dict[str, Any]):
        self.spans = len(entries)
        self.start_ns = min(e[START] for e in entries)
        self.last_start_ns = max(e[START] for e in entries)
        self.ids = b"".join(keys)
        self.llm = b"".join(llm) or None
        self.data = compress(entries)
        self.extra = compress(extra) if extra else None
        self.has_content = bool(extra) and any(
            genai.is_content_key(k) for values in extra.values() for k in values
        )


#: Whether an attribute name is of recorded content, by name (spans repeat a few names).
_CONTENT_KEYS: dict[str, bool] = {}


def entry_of(
    record: SpanRecord, home: str | None, resource_id: int | None, scope_id: int | None, extra: dict[str, Any]
) -> list[Any]:
    """``record`` as a ``data`` list; its long values go into ``extra`` under the span's index."""
    attributes = record.attributes
    omitted: list[str] | None = None
    for key, value in attributes.items():
        content = _CONTENT_KEYS.get(key)
        if content is None:
            if len(_CONTENT_KEYS) > 4096:
                _CONTENT_KEYS.clear()
            content = _CONTENT_KEYS[key] = genai.is_content_key(key)
        if content or (isinstance(value, str) and len(value) > LARGE_VALUE):
            omitted = omitted or []
            omitted.append(key)
    if omitted:
        extra[str(len(extra))] = {k: attributes[k] for k in omitted}
        attributes = {k: v for k, v in attributes.items() if k not in omitted}
    own_trace = record.trace_id == home
    return [
        None if own_trace else record.trace_id,
        None if own_trace else record.span_id,
        record.parent_span_id,
        record.name,
        record.kind,
        record.span_kind,
        record.start_ns,
        record.end_ns - record.start_ns,
        _STATUS_CODE.get(record.status, 0),
        record.status_message,
        attributes,
        record.events,
        record.links,
        scope_id,
        resource_id,
        record.trace_state,
        None if omitted is None else [len(extra) - 1, omitted],
    ]


def encode(
    records: Sequence[SpanRecord],
    home: str | None,
    llm_ids: set[int],
    resource_ids: Sequence[int | None],
    scope_ids: Sequence[int | None],
) -> Encoded:
    """A block of ``records`` (one session's); ``llm_ids``: ``id()`` of those that are model calls."""
    extra: dict[str, Any] = {}
    entries, keys, llm = [], [], []
    for record, resource_id, scope_id in zip(records, resource_ids, scope_ids, strict=True):
        entries.append(entry_of(record, home, resource_id, scope_id, extra))
        key = span_key(record.trace_id, record.span_id, home)
        keys.append(key)
        if id(record) in llm_ids:
            parent = record.parent_span_id
            llm.append(key + (span_key(record.trace_id, parent, home) if parent else _NO_PARENT))
    return Encoded(entries, keys, llm, extra)


def llm_pairs(blob: bytes | memoryview | None) -> list[tuple[bytes, bytes | None]]:
    """The ``(key, parent key or None)`` of a block's model-call spans."""
    raw = bytes(blob or b"")
    pairs = [(raw[i : i + 8], raw[i + 8 : i + 16]) for i in range(0, len(raw), 16)]
    return [(key, None if parent == _NO_PARENT else parent) for key, parent in pairs]


def merge_groups(blocks: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Which of a session's blocks (``(block_id, spans)``) to merge: 4 of one size class at a time."""
    classes: dict[int, list[int]] = {}
    for block_id, spans in blocks:
        if spans < _MERGE_LIMIT:
            classes.setdefault(max(0, (spans.bit_length() - 1) // 2), []).append(block_id)
    return [ids[:_MERGE_COUNT] for ids in classes.values() if len(ids) >= _MERGE_COUNT]


def merged(parts: Iterable[tuple[bytes, bytes | None, bytes, bytes | None, int]]) -> Encoded:
    """One block of the blocks ``(data, extra, ids, llm, codec)``; each span's long values kept."""
    entries: list[list[Any]] = []
    extra: dict[str, Any] = {}
    keys: list[bytes] = []
    llm: list[bytes] = []
    for data, extra_blob, ids, llm_blob, codec in parts:
        old_extra = decompress(extra_blob, codec) if extra_blob else {}
        for entry in decompress(data, codec):
            if entry[OMITTED] is not None:
                index, names = entry[OMITTED]
                extra[str(len(extra))] = old_extra.get(str(index), {})
                entry[OMITTED] = [len(extra) - 1, names]
            entries.append(entry)
        keys += keys_of(ids)
        raw = bytes(llm_blob or b"")
        llm += [raw[i : i + 16] for i in range(0, len(raw), 16)]
    return Encoded(entries, keys, llm, extra)


def record_of(entry: list[Any], key: bytes, home: str | None, extra: dict[str, Any]) -> SpanRecord:
    """A span of a block as a :class:`SpanRecord` again (the session's figures are rebuilt from these)."""
    attributes = entry[ATTRIBUTES]
    if entry[OMITTED] is not None:
        attributes = {**attributes, **extra.get(str(entry[OMITTED][0]), {})}
    trace = entry[TRACE] or home or ""
    return SpanRecord(
        trace,
        entry[SPAN] or key.hex(),
        entry[PARENT],
        entry[NAME],
        entry[START],
        entry[START] + entry[DURATION],
        STATUS_NAMES[entry[STATUS]],
        entry[MESSAGE],
        attributes,
        None,
        entry[EVENTS],
        span_kind=entry[SPAN_KIND],
        links=entry[LINKS],
        trace_state=entry[TRACE_STATE],
    )
