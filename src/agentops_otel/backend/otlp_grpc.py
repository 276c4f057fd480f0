"""OTLP/gRPC: the ``TraceService/Export`` receiver (``serve --grpc-port``, the ``[grpc]`` extra).

The same credential (metadata ``authorization: Bearer <token or API key>``), limits, decoding and
store as OTLP/HTTP (:mod:`.ingest`), on grpcio's own server in threads of its own beside uvicorn:
grpcio reads a whole message before it calls a handler, so a slow sender holds no worker. The method
takes raw bytes, so that a body that is not protobuf is INVALID_ARGUMENT (grpcio's own decoding would
answer INTERNAL), as the OTLP specification asks. Refusals carry a ``google.rpc.Status`` in
``grpc-status-details-bin`` and, when the sender should retry, a ``RetryInfo`` (also in
``google.rpc.retryinfo-bin``, where OpenTelemetry's Python exporter reads it).
"""

from __future__ import annotations

import logging
import threading
from concurrent import futures
from typing import Any, NoReturn

from agentops_otel.backend.errors import Refused, grpc_code, status_message
from agentops_otel.backend.ingest import decode, store_export
from agentops_otel.backend.state import Backend, bearer

logger = logging.getLogger("agentops_otel.backend")

GRPC_EXTRA_HINT = 'OTLP/gRPC needs the grpc extra: pip install "agentops-opentelemetry[server,grpc]"'
_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
#: Largest answer (an ExportTraceServiceResponse is a few hundred bytes at most).
_MAX_SEND = 1024 * 1024


class GrpcExtraMissing(RuntimeError):
    pass


class _Receiver:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.slots = threading.BoundedSemaphore(backend.limits.max_inflight)

    def export(self, body: bytes, context: Any) -> bytes:
        try:
            project_id = self._project(context)
            if not self.slots.acquire(blocking=False):
                raise Refused(503, "ingest is overloaded; retry later", retry_after=1)
            try:
                refused: list[str] = []
                records = decode(body, True, refused)
                result = store_export(self.backend.store, project_id, records, refused)
            finally:
                self.slots.release()
        except Refused as exc:
            self._abort(context, exc)
        except Exception as exc:
            logger.error("agentops-otel backend: OTLP/gRPC export failed", exc_info=exc)
            self._abort(context, Refused(500, f"internal error ({type(exc).__name__}); see the server's log"))
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        answer = ExportTraceServiceResponse()
        if result.rejected:
            answer.partial_success.rejected_spans = result.rejected
            answer.partial_success.error_message = result.message
        return bytes(answer.SerializeToString())

    def _project(self, context: Any) -> str:
        metadata = dict(context.invocation_metadata() or ())
        credential = bearer(str(metadata.get("authorization", "")))
        if credential is None:
            raise Refused(401, "missing metadata authorization: Bearer <token or API key>")
        return self.backend.authorize(credential)

    @staticmethod
    def _abort(context: Any, refused: Refused) -> NoReturn:
        import grpc

        code = grpc_code(refused.status)
        status = status_message(code, refused.message, refused.retry_after)
        trailers: list[tuple[str, bytes]] = [("grpc-status-details-bin", status.SerializeToString())]
        if refused.retry_after is not None:
            from google.rpc import error_details_pb2

            info = error_details_pb2.RetryInfo(retry_delay={"seconds": refused.retry_after})
            trailers.append(("google.rpc.retryinfo-bin", info.SerializeToString()))
        context.set_trailing_metadata(trailers)
        by_value = {c.value[0]: c for c in grpc.StatusCode}
        context.abort(by_value.get(code, grpc.StatusCode.UNKNOWN), refused.message)
        raise AssertionError("grpc's context.abort returned")  # it raises, always


def require_grpc() -> None:
    """Raise :class:`GrpcExtraMissing` when grpcio is not installed."""
    try:
        import grpc  # noqa: F401
    except ImportError as exc:
        raise GrpcExtraMissing(f"{GRPC_EXTRA_HINT} ({exc})") from None


def start_receiver(backend: Backend, address: str) -> tuple[Any, int]:
    """Start the receiver on ``address`` (``host:port``); ``(server, port)``. Raises
    :class:`GrpcExtraMissing` without grpcio, OSError when it cannot listen there."""
    require_grpc()
    import grpc

    limits = backend.limits
    receiver = _Receiver(backend)
    server = grpc.server(
        futures.ThreadPoolExecutor(
            max_workers=limits.max_inflight + 2, thread_name_prefix="agentops-otlp-grpc"
        ),
        # Calls past the workers wait for one; past this many in all, RESOURCE_EXHAUSTED at once.
        maximum_concurrent_rpcs=4 * limits.max_inflight,
        options=[
            ("grpc.max_receive_message_length", limits.max_body),  # after decompression too
            ("grpc.max_send_message_length", _MAX_SEND),
            ("grpc.max_concurrent_streams", 100),
            ("grpc.max_connection_idle_ms", 5 * 60 * 1000),
            ("grpc.so_reuseport", 0),
        ],
    )
    handler = grpc.unary_unary_rpc_method_handler(receiver.export)  # raw bytes in and out
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(_SERVICE, {"Export": handler}),))
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:  # grpcio raises this when it cannot bind
        raise OSError(f"cannot listen for OTLP/gRPC on {address}: {exc}") from None
    if not port:
        raise OSError(f"cannot listen for OTLP/gRPC on {address}")
    server.start()
    logger.info("agentops-otel backend: OTLP/gRPC on %s (port %d)", address, port)
    return server, port
