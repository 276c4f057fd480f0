"""``errors``: failures, not spans (SPEC.md section 5; the rule in full in docs/backend.md).

A failure is a span other than the session's root whose status is ERROR or whose
``agentops.span.kind`` is ``error``. One exception often leaves several of them, and those count once:

- an exception that propagates marks each span it leaves with status ERROR and the same exception
  (``exception.type`` and ``exception.message`` of the span's ``exception`` event): a failure whose
  parent is a failure with the same exception is that failure (also an error span recorded inside the
  span that failed);
- an error span recorded after catching the exception (``record(ErrorEvent(exception=e))``, beside the
  span that failed, under the same parent) is the failure of the latest earlier sibling with the same
  exception that no other error span has claimed (so three failed retries and their three error spans
  are three failures).

A failure with no recorded exception is always one of its own. A session whose root says Fail and has
no other failure (an uncaught exception, a signal, ``end_session("Fail")``) has one.

The session keeps its failures as small records (:data:`Failure`), so the count is recomputed from all
of them whenever one arrives, in any order. Standard library only.
"""

from __future__ import annotations

from typing import Any

#: ``[span_id, parent_span_id, exception signature or None, 1 if an error span else 0, start_ns]``.
Failure = list[Any]
#: Failures kept per session; past this many, each further one counts as one of its own.
MAX_FAILURES_KEPT = 2000


def failure_record(
    span_id: str, parent_id: str | None, signature: str | None, error_kind: bool, start_ns: int
) -> Failure:
    return [span_id, parent_id, signature, 1 if error_kind else 0, start_ns]


def count_failures(failures: list[Failure], overflow: int = 0) -> int:
    """Distinct failures among ``failures`` (plus ``overflow``, those not kept)."""
    if not failures:
        return overflow
    ordered = sorted(failures, key=lambda f: (f[4], f[0]))
    by_id = {f[0]: f for f in ordered}
    same: dict[str, str] = {}  # failure -> the failure it is part of (union-find parent)

    def top(span_id: str) -> str:
        while span_id in same:
            span_id = same[span_id]
        return span_id

    for f in ordered:  # propagation, or an error span inside the span that failed
        parent = by_id.get(f[1]) if f[1] else None
        if f[2] is not None and parent is not None and parent[2] == f[2]:
            same[f[0]] = parent[0]
    siblings: dict[tuple[Any, str], list[Failure]] = {}
    for g in ordered:
        if not g[3] and g[2] is not None:
            siblings.setdefault((g[1], g[2]), []).append(g)
    claimed: set[str] = set()
    for f in ordered:  # an error span recorded after the catch, beside the span that failed
        if not f[3] or f[2] is None or f[0] in same:
            continue
        for g in reversed(siblings.get((f[1], f[2]), ())):
            if g[4] <= f[4] and g[0] not in claimed and top(g[0]) != f[0]:
                claimed.add(g[0])
                same[f[0]] = g[0]
                break
    return sum(1 for f in ordered if f[0] not in same) + overflow
