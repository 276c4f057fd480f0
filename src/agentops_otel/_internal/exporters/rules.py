"""The delivery rules: what each answer of a backend means for a batch. The one place they are decided
(docs/reliability.md has the same table; SPEC.md section 7 the contract).

| answer                                   | outcome                                             |
|------------------------------------------|-----------------------------------------------------|
| 2xx, whatever its body                   | delivered, never sent again                         |
| 3xx                                      | retried with backoff (the redirect is not followed: |
|                                          | it would carry the token elsewhere), logged once    |
| 400, 413, 422                            | the batch is split to find the span that causes it; |
|                                          | that span alone is rejected                         |
| 401 on traces                            | token refreshed, the same batch sent again          |
| 401/403 on the token exchange            | invalid key: rejected, no more network              |
| 408, 429                                 | retried; ``Retry-After`` honoured                   |
| other 4xx                                | rejected (final), logged once per status            |
| 500 and other 5xx but 502/503/504        | retried with backoff; split while other batches get |
|                                          | through (a span the backend cannot store)           |
| 502, 503, 504                            | retried; ``Retry-After`` honoured                   |
| no connection, timeout, unparseable      | retried with backoff                                |

"Retried" is the export processor's one retry loop: backoff from 0.25 s doubling to 30 s, never
before ``Retry-After`` (capped at 300 s), and at exit what is left is spooled (``spooling.py``).
"""

from __future__ import annotations

import email.utils
import time

from agentops_otel._internal.exporters.base import DELIVERED, Delivery, Outcome

#: The longest Retry-After honoured, in seconds.
MAX_RETRY_AFTER = 300.0
#: Answers that say the batch itself is at fault (malformed, too large, unprocessable).
CONTENT_STATUSES = frozenset({400, 413, 422})
#: Overload or a gateway between us and the backend: the batch is not suspect.
OVERLOAD_STATUSES = frozenset({408, 429, 502, 503, 504})


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), capped; None if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def classify(what: str, status: int, retry_after: str | None = None) -> Delivery:
    """The outcome of an HTTP answer with ``status`` to the ``what`` request ("traces" or "auth").

    401 on traces and 401/403 on auth are the exporter's (token refresh, invalid key)."""
    if 200 <= status < 300:
        return DELIVERED
    reason = f"{what} answered {status}"
    wait = parse_retry_after(retry_after)
    if 300 <= status < 400:
        return Delivery(Outcome.RETRY, retry_after=wait, reason=f"{reason} (a redirect; not followed)")
    if status in OVERLOAD_STATUSES:
        return Delivery(Outcome.RETRY, retry_after=wait, reason=reason)
    if status >= 500:
        return Delivery(Outcome.RETRY, retry_after=wait, reason=reason, suspect=True)
    if status in CONTENT_STATUSES and what == "traces":
        return Delivery(Outcome.REJECTED, reason=reason, suspect=True)
    return Delivery(Outcome.REJECTED, reason=reason)


def unreachable(url: str, error: BaseException | str) -> Delivery:
    """No answer: no connection, a timeout, TLS refused, or an answer that is not HTTP."""
    detail = error if isinstance(error, str) else type(error).__name__
    return Delivery(Outcome.RETRY, reason=f"cannot reach {url}: {detail}")
