"""Protobuf wire primitives and the OTLP messages every span shares (attributes, ``Resource``,
``InstrumentationScope``), written with the stdlib (see ``otlp_encoding`` for why).

Field numbers are those of opentelemetry-proto ``common/v1/common.proto`` and
``resource/v1/resource.proto``.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

logger = logging.getLogger("agentops_otel.exporter")

_pack_double = struct.Struct("<d").pack
pack_fixed64 = struct.Struct("<Q").pack
pack_fixed32 = struct.Struct("<I").pack

_INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
UINT64_MASK = (1 << 64) - 1

#: Varints of 0..127 are one byte; most lengths and tags are below that.
_SMALL = [bytes((n,)) for n in range(128)]


# Bounds on the caches: attribute keys, resources and scopes repeat, but a program could make new ones
# forever; past these sizes a cache is emptied and starts over.
_MAX_KEYS = 4096
_MAX_OBJECTS = 256


def varint(n: int) -> bytes:
    """Unsigned varint of ``n`` (>= 0)."""
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(tag: bytes, payload: bytes | bytearray) -> bytes:
    """A length-delimited field: ``tag``, length, payload."""
    return tag + varint(len(payload)) + payload


# -- attributes --------------------------------------------------------------------------------------

_key_cache: dict[str, bytes] = {}


def _key(key: str) -> bytes:
    """``KeyValue.key`` (field 1) with its tag and length, cached."""
    encoded = _key_cache.get(key)
    if encoded is None:
        if not isinstance(key, str):
            raise TypeError(f"attribute key {key!r} is not a string")
        encoded = field(b"\x0a", key.encode("utf-8"))
        if len(_key_cache) >= _MAX_KEYS:
            _key_cache.clear()
        _key_cache[key] = encoded
    return encoded


def _any_value(value: Any) -> bytes:
    """The body of an ``AnyValue``; the oneof field is always written, even for "", 0 and False."""
    kind = type(value)
    if kind is str:
        return field(b"\x0a", value.encode("utf-8"))
    if value is None:
        return b""
    if kind is bool or isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return field(b"\x0a", str(value).encode("utf-8"))
    if isinstance(value, int):
        if not _INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"{value} does not fit in an int64")
        return b"\x18" + varint(int(value) & UINT64_MASK)
    if isinstance(value, float):
        return b"\x21" + _pack_double(value)
    if isinstance(value, bytes):
        return field(b"\x3a", value)
    if isinstance(value, Sequence):
        # ArrayValue.values (field 1) of AnyValue.array_value (field 5).
        return field(b"\x2a", b"".join([field(b"\x0a", _any_value(item)) for item in value]))
    if isinstance(value, Mapping):
        # KeyValueList.values (field 1) of AnyValue.kvlist_value (field 6).
        return field(b"\x32", b"".join([field(b"\x0a", _key_value(str(k), v)) for k, v in value.items()]))
    raise TypeError(f"invalid attribute type {type(value).__name__}")


def _key_value(key: str, value: Any) -> bytes:
    return _key(key) + field(b"\x12", _any_value(value))


def encode_attributes(tag: bytes, attributes: Mapping[str, Any] | None) -> bytes:
    """Repeated ``KeyValue`` field ``tag``; a value that cannot be encoded is left out."""
    if not attributes:
        return b""
    parts: list[bytes] = []
    extend = parts.extend
    keys = _key_cache
    for key, value in attributes.items():
        encoded_key = keys.get(key)
        if encoded_key is not None and type(value) is str:
            # The common case, inline: KeyValue{key, value: AnyValue{string_value}} with one copy of
            # the (possibly large) text.
            text = value.encode("utf-8")
            size = len(text)
            size_bytes = _SMALL[size] if size < 0x80 else varint(size)
            any_size = 1 + len(size_bytes) + size
            any_size_bytes = _SMALL[any_size] if any_size < 0x80 else varint(any_size)
            kv_size = len(encoded_key) + 1 + len(any_size_bytes) + any_size
            extend((tag, varint(kv_size), encoded_key, b"\x12", any_size_bytes, b"\x0a", size_bytes, text))
            continue
        try:
            kv = _key_value(key, value)
        except Exception as exc:
            logger.warning("agentops_otel: attribute %r not exported: %s", key, exc)
            continue
        extend((tag, varint(len(kv)), kv))
    return b"".join(parts)


# -- resources and scopes (cached: every span of a provider shares them) -----------------------------

_resource_cache: dict[int, tuple[Resource, bytes]] = {}
_scope_cache: dict[int, tuple[InstrumentationScope | None, bytes]] = {}


def encode_resource(resource: Resource) -> bytes:
    """The ``Resource`` message body."""
    entry = _resource_cache.get(id(resource))
    if entry is not None and entry[0] is resource:
        return entry[1]
    encoded = encode_attributes(b"\x0a", resource.attributes)
    if len(_resource_cache) >= _MAX_OBJECTS:
        _resource_cache.clear()
    _resource_cache[id(resource)] = (resource, encoded)
    return encoded


def encode_scope(scope: InstrumentationScope | None) -> bytes:
    """The ``InstrumentationScope`` message body."""
    entry = _scope_cache.get(id(scope))
    if entry is not None and entry[0] is scope:
        return entry[1]
    encoded = b""
    if scope is not None:
        if scope.name:
            encoded += field(b"\x0a", scope.name.encode("utf-8"))
        if scope.version:
            encoded += field(b"\x12", scope.version.encode("utf-8"))
        encoded += encode_attributes(b"\x1a", scope.attributes)
    if len(_scope_cache) >= _MAX_OBJECTS:
        _scope_cache.clear()
    _scope_cache[id(scope)] = (scope, encoded)
    return encoded
