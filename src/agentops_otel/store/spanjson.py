"""Span objects (SPEC.md section 5) built at read time from the blocks (``store/blocks.py``).

Two forms:

- **full**: every attribute, the events, links, the instrumentation ``scope`` and the ``resource``
  (its attributes) in each span: ``GET /api/sessions/{id}`` without parameters, and one span;
- **compact** (the pages of ``spans_limit``): long values left out (their names in
  ``attributes_omitted``; :data:`~agentops_otel.store.blocks.LARGE_VALUE`), and ``resource_id`` /
  ``scope_id`` in place of the objects, which the page gives once (``resources``, ``scopes``).

Standard library only.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from agentops_otel.store import blocks as b
from agentops_otel.store.records import SPAN_KIND_NAMES, STATUS_NAMES

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


@lru_cache(maxsize=4096)
def _second(seconds: int) -> str:
    return (_EPOCH + _dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")


def iso(ns: int | None) -> str | None:
    """``iso_time`` of ``store/queries.py``, with the second's text cached (spans share seconds)."""
    if not ns or ns < 0:
        return None
    return f"{_second(ns // 1_000_000_000)}.{(ns // 1000) % 1_000_000:06d}Z"


def sort_key(entry: list[Any], key: bytes) -> tuple[int, str]:
    """Spans in start order, then by span id (the order of every listing and of the span cursor)."""
    return entry[b.START], entry[b.SPAN] or key.hex()


def span_object(
    entry: list[Any],
    key: bytes,
    home: str | None,
    extra: dict[str, Any] | None,
    lookup: Callable[[str, int | None], Any],
) -> dict[str, Any]:
    """The span object of ``entry``. With ``extra`` (the block's long values) the full form, else the
    compact form. ``lookup(kind, id)`` gives a resource's attributes or a scope ("resource", "scope")."""
    start = entry[b.START]
    attributes = entry[b.ATTRIBUTES]
    omitted = entry[b.OMITTED]
    if omitted is not None and extra is not None:
        attributes = {**attributes, **extra.get(str(omitted[0]), {})}
    span: dict[str, Any] = {
        "span_id": entry[b.SPAN] or key.hex(),
        "parent_span_id": entry[b.PARENT],
        "trace_id": entry[b.TRACE] or home,
        "name": entry[b.NAME],
        "kind": entry[b.KIND],
        "span_kind": SPAN_KIND_NAMES[entry[b.SPAN_KIND]],
        "start_time": iso(start),
        "end_time": iso(start + entry[b.DURATION]),
        "status": STATUS_NAMES[entry[b.STATUS]],
        "status_message": entry[b.MESSAGE] or None,
        "attributes": attributes,
    }
    if entry[b.EVENTS]:
        span["events"] = [
            {"name": e["name"], "time": iso(e["time_ns"]), "attributes": e["attributes"]}
            for e in entry[b.EVENTS]
        ]
    if entry[b.LINKS]:
        span["links"] = entry[b.LINKS]
    if entry[b.TRACE_STATE]:
        span["trace_state"] = entry[b.TRACE_STATE]
    if extra is None:
        if omitted is not None:
            span["attributes_omitted"] = omitted[1]
        span["scope_id"] = entry[b.SCOPE]
        span["resource_id"] = entry[b.RESOURCE]
    else:
        span["scope"] = lookup("scope", entry[b.SCOPE])
        span["resource"] = lookup("resource", entry[b.RESOURCE]) or {}
    return span
