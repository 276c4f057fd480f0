"""Decoding and storing one OTLP export, shared by OTLP/HTTP and OTLP/gRPC.

The rule (docs/backend.md, "What is refused"): a body that is not an OTLP trace export is refused
whole (400, nothing stored); a span that decodes but cannot be stored is refused alone, counted in the
answer's ``partial_success.rejected_spans`` with the reason in ``error_message``, and the others are
stored. Most such spans are found while decoding (:func:`~agentops_otel.store.records.refusal`);
should the store still refuse a value of a batch (a sum of token counts past int64, text a database
cannot keep), the batch is split in halves until the spans at fault are found, each refused alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentops_otel.backend.errors import Refused, is_data_error, unavailable
from agentops_otel.store.otlp_json import from_otlp_json
from agentops_otel.store.records import MalformedSpans, SpanRecord, from_otlp_protobuf

logger = logging.getLogger("agentops_otel.backend")

#: Stores tried, at most, while looking for the spans of a batch that the store refuses; past that the
#: spans still in doubt are refused with them (a batch that is nearly all poison costs no more).
MAX_SPLIT_ATTEMPTS = 64
#: Reasons quoted in ``error_message`` (the count covers all of them).
_REASONS_SHOWN = 3


@dataclass
class Ingested:
    """What became of one export."""

    stored: int  # new spans stored (a span sent before is not stored twice)
    rejected: int  # spans refused alone
    message: str  # why, when ``rejected`` > 0


def decode(body: bytes, protobuf: bool, refused: list[str]) -> list[SpanRecord]:
    """Records of an OTLP export; 400 for a body that is not one; spans refused alone go to ``refused``."""
    try:
        if protobuf:
            return from_otlp_protobuf(body, refused)
        return from_otlp_json(body, refused)
    except MalformedSpans as exc:
        raise Refused(400, str(exc)) from None


def store_export(store: Any, project_id: str, records: Sequence[SpanRecord], refused: list[str]) -> Ingested:
    """Store ``records`` under ``project_id``; 503 (:class:`Refused`) when the store cannot take them
    now, in which case nothing was stored."""
    attempts = [0, 0]  # stores tried, refusals logged
    stored = _store(store, project_id, records, refused, attempts)
    message = ""
    if refused:
        shown = "; ".join(refused[:_REASONS_SHOWN])
        more = f" (and {len(refused) - _REASONS_SHOWN} more)" if len(refused) > _REASONS_SHOWN else ""
        message = f"{len(refused)} span(s) refused: {shown}{more}"
        logger.info("agentops-otel backend: project %s: %s", project_id, message)
    return Ingested(stored, len(refused), message)


def _store(
    store: Any, project_id: str, records: Sequence[SpanRecord], refused: list[str], attempts: list[int]
) -> int:
    if not records:
        return 0
    try:
        attempts[0] += 1
        stored: int = store.ingest(project_id, records, refused)  # the store refuses spans alone too
        return stored
    except Exception as exc:
        busy = unavailable(exc)
        if busy is not None:
            raise busy from None
        if not is_data_error(exc):
            raise
        if len(records) == 1 or attempts[0] >= MAX_SPLIT_ATTEMPTS:
            if attempts[1] == 0:  # once an export, with the traceback: a fault of ours looks the same
                logger.warning(
                    "agentops-otel backend: the store refused %d span(s)", len(records), exc_info=True
                )
            attempts[1] += 1
            reason = f"the store refused it: {type(exc).__name__}: {str(exc)[:200]}"
            refused.extend(f"span {r.name[:80]!r}: {reason}" for r in records)
            return 0
    half = len(records) // 2
    # Each half is its own transaction: a busy store midway leaves the first half stored, which is
    # safe to send again (a span is stored once per project, trace and span id).
    return _store(store, project_id, records[:half], refused, attempts) + _store(
        store, project_id, records[half:], refused, attempts
    )
