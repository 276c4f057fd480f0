"""The batches the export processor holds, and how a batch whose content is suspect is split so that
one bad span costs only itself.

A failure is *suspect* (``Delivery.suspect``) when the backend may have refused the batch for what is
in it: a 500 (a value it cannot store), 400/413/422. The processor then splits the batch in halves
and sends each. Evidence that the backend works (any delivery) is what allows going further: every
delivery resets the *strikes* of the batches held, and

- a batch that fails suspect with no strike yet (fresh, or something was delivered since it last
  failed) is split; a single span in that state that has failed before is the one at fault: it is
  rejected alone and counted;
- otherwise (it failed again and nothing got through since) another held batch not tried since the
  last delivery (its other half, at first) goes first; when none is left, a 5xx is retried with
  backoff (the backend may be broken for every batch: a full disk) and a 4xx is a final rejection.

So a poison span among 512 costs about 2 x log2(512) = 18 requests and only itself, a backend that
answers 500 to everything is retried with backoff and spooled at exit (never split to pieces), and a
deterministic 400 for everything costs three requests.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from opentelemetry.sdk.trace import ReadableSpan

from agentops_otel._internal.exporters.base import Delivery, Encoded, Outcome


@dataclass(eq=False)  # compared by identity
class Held:
    """One encoded batch waiting to be delivered."""

    encoded: Encoded
    #: RETRY answers this batch had (for exporters that give up after ``max_attempts``).
    attempts: int = 0
    #: Suspect failures since the last delivery of any batch.
    strikes: int = 0
    #: Suspect failures of this batch or the batch it was split from.
    failures: int = 0
    #: Whether it was sent since it was made or since the last delivery of any batch.
    tried: bool = False

    @property
    def size(self) -> int:
        return self.encoded.size


class Step(enum.Enum):
    """What the processor does next after a suspect failure."""

    SPLIT = "split"  # the batch was replaced by its halves: send them now
    REJECT = "reject"  # the batch (one span, or a final 4xx) is rejected: count it, go on
    ROTATE = "rotate"  # another batch goes first: go on
    BACKOFF = "backoff"  # wait, then retry


class HeldBatches:
    """The batches taken from the queue and not yet settled, oldest first."""

    def __init__(self) -> None:
        self.items: deque[Held] = deque()

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def spans(self) -> int:
        return sum(held.size for held in self.items)

    def first(self) -> Held | None:
        return self.items[0] if self.items else None

    def add(self, held: Held) -> None:
        self.items.append(held)

    def settle_first(self) -> Held:
        return self.items.popleft()

    def delivered(self) -> None:
        """Something got through: the backend works, suspects may be split again."""
        for held in self.items:
            held.strikes = 0
            held.tried = False

    def on_suspect(
        self, held: Held, result: Delivery, encode: Callable[[Sequence[ReadableSpan]], Encoded]
    ) -> tuple[Step, int]:
        """Apply the rules of the module docstring to the first batch ``held``; the step, and the
        spans the encoder rejected while splitting (to be counted)."""
        fresh = held.strikes == 0
        failed_before = held.failures > 0
        held.strikes += 1
        held.failures += 1
        held.tried = True
        if fresh and held.size > 1:
            return Step.SPLIT, self.split_first(encode)
        if fresh and failed_before:
            return Step.REJECT, 0
        if any(not other.tried for other in self.items if other is not held):
            self.items.rotate(-1)
            return Step.ROTATE, 0
        return (Step.BACKOFF if result.outcome is Outcome.RETRY else Step.REJECT), 0

    def known_bad_first(self) -> bool:
        """The first batch failed suspect, then something else got through: it is split before it is
        sent again (sending it whole would only fail again)."""
        held = self.items[0] if self.items else None
        return held is not None and held.failures > 0 and held.strikes == 0 and held.size > 1

    def split_first(self, encode: Callable[[Sequence[ReadableSpan]], Encoded]) -> int:
        """Replace the first batch by its halves (each encoded once); the spans the encoder rejected."""
        held = self.items[0]
        spans = held.encoded.spans
        middle = len(spans) // 2
        halves = [encode(spans[:middle]), encode(spans[middle:])]
        # The halves go in before the batch goes out: a flush counting what is held never sees 0.
        self.items.extendleft(
            Held(h, held.attempts, 1, max(held.failures, 1)) for h in reversed(halves) if h.size
        )
        self.items.remove(held)
        return sum(half.rejected for half in halves)

    def take_all(self) -> list[Held]:
        items = list(self.items)
        self.items.clear()
        return items
