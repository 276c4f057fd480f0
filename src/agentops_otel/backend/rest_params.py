"""The query parameters of the REST reads, checked before they reach the store: each against a limit of
:mod:`agentops_otel.backend.limits`, and a breach is a 400 that names the parameter."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from starlette.datastructures import QueryParams

from agentops_otel.backend.errors import Refused
from agentops_otel.backend.limits import MAX_OFFSET, MAX_TAG_FILTERS, MAX_TAG_LENGTH
from agentops_otel.store.figures import normalise_end_state
from agentops_otel.store.listing import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, SORT_KEYS
from agentops_otel.store.reads import MAX_SPANS_LIMIT

_DIGITS = re.compile(r"[0-9]{1,12}")
_EPOCH = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,9})?")
#: Longest ``q``, ``model`` and cursor values.
MAX_TEXT = 256
MAX_CURSOR = 2048
_SORTS = frozenset(SORT_KEYS) | {f"-{k}" for k in SORT_KEYS}
#: Times a store keeps (int64 nanoseconds): 1970 to 2262.
_LATEST_S = (2**63 - 1) // 10**9


def int_param(params: QueryParams, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not _DIGITS.fullmatch(raw):
        raise Refused(400, f"{name} must be a whole number from {low} to {high}")
    value = int(raw)
    if not low <= value <= high:
        raise Refused(400, f"{name} must be from {low} to {high}")
    return value


def _text(params: QueryParams, name: str, longest: int = MAX_TEXT) -> str | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > longest or "\0" in raw:
        raise Refused(400, f"{name} must be at most {longest} characters, without NUL")
    return raw


def _number(params: QueryParams, name: str) -> float | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or len(raw) > 64:
        raise Refused(400, f"{name} must be a number (US dollars)")
    return value


def time_param(params: QueryParams, name: str) -> int | None:
    """``since``/``until``: ISO 8601 (UTC when no offset is given) or epoch seconds; Unix ns."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if _EPOCH.fullmatch(raw):
        seconds = float(raw)
    else:
        try:
            moment = dt.datetime.fromisoformat(raw[:64].replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            raise Refused(400, f"{name} must be ISO 8601 (2026-12-01T10:00:00Z) or epoch seconds") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
        seconds = moment.timestamp()
    if not 0 <= seconds <= _LATEST_S:
        raise Refused(400, f"{name} must be between 1970 and 2262")
    return round(seconds * 1e9)


def tag_params(params: QueryParams) -> list[str]:
    tags = [t for t in params.getlist("tag") if t]
    if len(tags) > MAX_TAG_FILTERS:
        raise Refused(400, f"at most {MAX_TAG_FILTERS} tag filters")
    if any(len(t) > MAX_TAG_LENGTH for t in tags):
        raise Refused(400, f"a tag filter is longer than {MAX_TAG_LENGTH} characters")
    return tags


def list_params(params: QueryParams, *, traces: bool = False) -> dict[str, Any]:
    """The filters of ``GET /api/sessions`` (``/api/traces`` with ``traces``: no tags, no end state),
    checked; keyword arguments of the store's list."""
    limit = int_param(params, "limit", DEFAULT_LIST_LIMIT, 1, MAX_LIST_LIMIT)
    offset = int_param(params, "offset", 0, 0, MAX_OFFSET)
    cursor = _text(params, "cursor", MAX_CURSOR)
    if cursor is not None and offset:
        raise Refused(400, "give cursor or offset, not both (a cursor already says where the page starts)")
    sort = params.get("sort") or "-start_time"
    if sort not in _SORTS:
        raise Refused(400, f"sort must be one of {', '.join(SORT_KEYS)}, with - for descending")
    found: dict[str, Any] = {
        "limit": limit,
        "offset": offset,
        "cursor": cursor,
        "sort": sort,
        "q": _text(params, "q"),
        "since_ns": time_param(params, "since"),
        "until_ns": time_param(params, "until"),
        "model": _text(params, "model"),
        "min_cost": _number(params, "min_cost"),
        "max_cost": _number(params, "max_cost"),
        "min_errors": int_param(params, "min_errors", None, 0, 2**31 - 1),
    }
    if traces:
        for name in ("tag", "end_state"):
            if params.get(name):
                raise Refused(400, f"{name} is not a filter of traces (a trace has no session, so no {name})")
        return found
    end_state = params.get("end_state") or None
    if end_state is not None:
        end_state = normalise_end_state(end_state)
        if end_state is None:
            raise Refused(400, "end_state must be Success, Fail or Indeterminate")
    return {**found, "tags": tag_params(params), "end_state": end_state}


def span_page_params(params: QueryParams) -> dict[str, Any]:
    """``spans_limit`` and ``spans_cursor`` of one session's (or trace's) detail."""
    limit = int_param(params, "spans_limit", None, 1, MAX_SPANS_LIMIT)
    cursor = _text(params, "spans_cursor", MAX_CURSOR)
    if cursor is not None and limit is None:
        raise Refused(400, "spans_cursor goes with spans_limit (the size of the page)")
    return {"spans_limit": limit, "spans_cursor": cursor}


def overview_params(params: QueryParams) -> dict[str, Any]:
    bucket = params.get("bucket") or None
    if bucket not in (None, "hour", "day"):
        raise Refused(400, "bucket must be hour or day")
    return {
        "since_ns": time_param(params, "since"),
        "until_ns": time_param(params, "until"),
        "bucket": bucket,
        "tags": tag_params(params),
    }
