"""Model calls: the model-call spans of a session grouped into calls.

A model-call span whose parent is a model-call span records the same call (a framework's span around a
provider instrumentation's, our LLM span around OpenLLMetry's or the contrib instrumentation's), so a
chain of them is one call: the largest token counts and cost of its spans, and the model of the
innermost span that names one. What a span is comes from :func:`~agentops_otel.store.genai.classify`;
the request half of a streamed call whose response another span records is not a call of its own
(:func:`~agentops_otel.store.genai.is_stream_request_half`).

Standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentops_otel.store import genai
from agentops_otel.store.records import SpanRecord

#: Model names longer than this are cut (they are keys of the per-model figures).
MAX_MODEL_NAME = 256
#: Deepest chain of nested model-call spans followed (a cycle of parent ids stops there too).
_MAX_DEPTH = 64


class Call:
    """One model call: a chain of model-call spans nested in one another (innermost first)."""

    __slots__ = ("cost", "failed", "input_tokens", "members", "model", "names", "output_tokens")

    def __init__(self, members: list[SpanRecord]) -> None:
        self.members = members
        self.input_tokens = self.output_tokens = 0
        self.cost: float | None = None
        self.names: set[str] = set()
        self.failed = False
        response_model = request_model = None
        for record in members:
            a = record.attributes
            self.failed = self.failed or record.status == "ERROR"
            tokens_in, tokens_out = genai.tokens(a)
            self.input_tokens = max(self.input_tokens, tokens_in)
            self.output_tokens = max(self.output_tokens, tokens_out)
            cost = genai.cost(a)
            if cost is not None and (self.cost is None or cost > self.cost):
                self.cost = cost
            response, request = genai.model_names(a)
            for name in (response, request):
                if name:
                    self.names.add(name[:MAX_MODEL_NAME])
            response_model = response_model or response
            request_model = request_model or request
        model = response_model or request_model
        self.model = model[:MAX_MODEL_NAME] if model else None

    @property
    def unpriced(self) -> bool:
        return is_unpriced(self.cost, self.failed, self.input_tokens, self.output_tokens)


def is_unpriced(cost: float | None, failed: bool, input_tokens: int, output_tokens: int) -> bool:
    """No cost known for tokens a call used. A call that failed and used none has nothing to price (a
    provider's error answer is not billed), so it is not unpriced. The CLI counts by this rule too."""
    if cost is not None:
        return False
    return not (failed and input_tokens == 0 and output_tokens == 0)


def calls_of(records: Sequence[SpanRecord]) -> tuple[list[Call], set[int]]:
    """The model calls among ``records`` (chains grouped), and the ids (``id()``) of their spans."""
    llm = {
        r.span_id: r
        for r in records
        if not r.is_start_marker
        and not r.is_heartbeat
        and genai.classify(r.kind, r.attributes) == genai.LLM
        and not genai.is_stream_request_half(r.kind, r.status, r.attributes)
    }
    if not llm:
        return [], set()
    chains: dict[str, list[tuple[int, SpanRecord]]] = {}
    for record in llm.values():
        top, depth = record, 0
        while top.parent_span_id in llm and depth < _MAX_DEPTH:
            top, depth = llm[top.parent_span_id], depth + 1  # type: ignore[index]
        chains.setdefault(top.span_id, []).append((depth, record))
    calls = [
        Call([r for _, r in sorted(chain, key=lambda item: -item[0])])
        for chain in sorted(chains.values(), key=lambda c: (min(r.start_ns for _, r in c), c[0][1].span_id))
    ]
    return calls, {id(r) for r in llm.values()}
