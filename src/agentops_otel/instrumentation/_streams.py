"""One stream proxy for every provider, sync and async.

The proxy is a ``wrapt.ObjectProxy``, so ``isinstance(s, openai.Stream)``, ``.response`` and every other
attribute of the SDK's stream keep working. It ends the LLM span exactly once, on whichever comes
first: the end of the stream, an error while reading it, ``close()``/``aclose()``, leaving a ``with``
block, or garbage collection of a stream the caller dropped. It never makes its span current: the
caller's context is untouched while they hold the stream. What the provider module learns from each
chunk goes through an :class:`Accumulator`, whose failures are logged and never reach the caller's loop.

Status on an early end: a stream closed or dropped before its end keeps status UNSET (a truncated read
is the caller's choice, not a failure); an error raised while reading sets ERROR with ``error.type``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

import wrapt
from opentelemetry import context as otel_context

from agentops_otel.instrumentation._core import LLMCall, call_context, debug_failure, foreign_llm_span
from agentops_otel.instrumentation._keys import TAIL_CALL


class Accumulator(Protocol):
    def item(self, item: Any) -> bool:
        """Learns from one chunk; True hides the chunk from the caller (one we asked for)."""
        ...

    def finish(self, call: LLMCall) -> None:
        """Writes what was learnt onto the span before it ends."""
        ...


class _StreamBase(wrapt.ObjectProxy):  # type: ignore[misc,type-arg]
    def __init__(self, wrapped: Any, call: LLMCall, accumulator: Accumulator) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_acc = accumulator
        # Bound once: the per-chunk path makes one call into the accumulator.
        self._self_item = accumulator.item
        self._self_first = True

    def _self_finish(self, error: BaseException | None = None) -> None:
        call = self._self_call
        if call._ended:
            return
        try:
            self._self_acc.finish(call)
        except Exception:
            debug_failure("summarising a stream")
        call.end(error)

    def _self_lend(self) -> None:
        call = self._self_call
        try:
            self._self_acc.finish(call)
            call.lend()
        except Exception:  # the chunk stays hidden all the same
            debug_failure("lending stream usage")

    def __del__(self) -> None:
        # A stream dropped without being read to its end or closed.
        with contextlib.suppress(Exception):
            self._self_finish()


class StreamProxy(_StreamBase):
    """Proxy of a synchronous SDK stream."""

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        # The hot path: one read, one accumulator call (try costs nothing until it raises in 3.11).
        while True:
            token = TAIL_CALL.set(self._self_call) if self._self_call.tail_wanted else None
            try:
                item = self.__wrapped__.__next__()
            except StopIteration:
                self._self_finish()
                raise
            except BaseException as exc:
                self._self_finish(exc)
                raise
            finally:
                if token is not None:
                    TAIL_CALL.reset(token)
            if self._self_first:
                self._self_first = False
                call = self._self_call
                if call.first_chunk_at is None:
                    call.first_chunk_at = time.perf_counter()
            try:
                if not self._self_item(item):
                    return item
                # A chunk we asked for (usage), hidden from the caller: another instrumentation
                # recording this call gets what it carried on its span.
                if self._self_call.other is not None:
                    self._self_lend()
            except Exception:
                debug_failure("reading a stream chunk")
                return item

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_finish()

    def __enter__(self) -> StreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_finish()


class AsyncStreamProxy(_StreamBase):
    """Proxy of an asynchronous SDK stream."""

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        while True:
            token = TAIL_CALL.set(self._self_call) if self._self_call.tail_wanted else None
            try:
                item = await self.__wrapped__.__anext__()
            except StopAsyncIteration:
                self._self_finish()
                raise
            except BaseException as exc:
                self._self_finish(exc)
                raise
            finally:
                if token is not None:
                    TAIL_CALL.reset(token)
            if self._self_first:
                self._self_first = False
                call = self._self_call
                if call.first_chunk_at is None:
                    call.first_chunk_at = time.perf_counter()
            try:
                if not self._self_item(item):
                    return item
                # A chunk we asked for (usage), hidden from the caller: another instrumentation
                # recording this call gets what it carried on its span.
                if self._self_call.other is not None:
                    self._self_lend()
            except Exception:
                debug_failure("reading a stream chunk")
                return item

    async def close(self) -> Any:
        try:
            return await self.__wrapped__.close()
        finally:
            self._self_finish()

    async def aclose(self) -> Any:
        try:
            aclose = getattr(self.__wrapped__, "aclose", None)
            return await (aclose() if aclose is not None else self.__wrapped__.close())
        finally:
            self._self_finish()

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_finish()


def wrap_stream(stream: Any, call: LLMCall, accumulator: Accumulator, is_async: bool) -> Any:
    return (AsyncStreamProxy if is_async else StreamProxy)(stream, call, accumulator)


def finish_inner_stream(helper: Any) -> None:
    """Ends our span under an SDK helper stream (``_raw_stream``) that closed its response directly."""
    raw = getattr(helper, "_raw_stream", None)
    if isinstance(raw, _StreamBase):
        raw._self_finish()


Starter = Callable[[], "LLMCall | None"]


class StreamManagerProxy(wrapt.ObjectProxy):  # type: ignore[misc,type-arg]
    """Proxy of a stream manager (``with client.messages.stream(...) as s``) whose request runs on enter.

    The span starts on enter (a manager never entered makes no request and has no span); the helper
    stream's ``_raw_stream`` is replaced by a stream proxy, so every way of reading it (iteration,
    ``text_stream``, ``get_final_message()``) passes through the proxy; exit ends the span.
    """

    def __init__(self, wrapped: Any, start: Starter, accumulator: Callable[[LLMCall], Accumulator]) -> None:
        super().__init__(wrapped)
        self._self_start = start
        self._self_make_acc = accumulator
        self._self_proxy: _StreamBase | None = None

    def _self_begin(self) -> tuple[LLMCall | None, object | None]:
        try:
            call = self._self_start()
            if call is None:
                return None, None
            other = foreign_llm_span(otel_context.get_current())
            if other is not None:
                call.adopt(other)
            return call, otel_context.attach(call_context(call))
        except Exception:
            debug_failure("starting a stream span")
            return None, None

    def _self_adopt(self, call: LLMCall, helper: Any, is_async: bool) -> None:
        try:
            raw = helper._raw_stream
            proxy = wrap_stream(raw, call, self._self_make_acc(call), is_async)
            helper._raw_stream = proxy
            self._self_proxy = proxy
        except Exception:
            debug_failure("wrapping a managed stream")
            call.end()

    def __enter__(self) -> Any:
        call, token = self._self_begin()
        if call is None:
            return self.__wrapped__.__enter__()
        try:
            helper = self.__wrapped__.__enter__()
        except BaseException as exc:
            otel_context.detach(token)  # type: ignore[arg-type]
            call.end(exc)
            raise
        otel_context.detach(token)  # type: ignore[arg-type]
        call.resolve()
        self._self_adopt(call, helper, False)
        return helper

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            if self._self_proxy is not None:
                self._self_proxy._self_finish()

    async def __aenter__(self) -> Any:
        call, token = self._self_begin()
        if call is None:
            return await self.__wrapped__.__aenter__()
        try:
            helper = await self.__wrapped__.__aenter__()
        except BaseException as exc:
            otel_context.detach(token)  # type: ignore[arg-type]
            call.end(exc)
            raise
        otel_context.detach(token)  # type: ignore[arg-type]
        call.resolve()
        self._self_adopt(call, helper, True)
        return helper

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            if self._self_proxy is not None:
                self._self_proxy._self_finish()
