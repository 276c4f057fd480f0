"""The store: the one owner of the SQLite file that the SDK's local exporter, the spool, the server and
the CLI share, and of its whole schema.

- :mod:`.records`: :class:`SpanRecord`, the normalised span, and the converters to it (OTLP protobuf,
  OTLP/JSON, SDK spans);
- :mod:`.figures`: session figures, folded one span at a time;
- :mod:`.sqlite`: the SQLite store (schema, projects, keys and tokens, ingest, queries);
- :mod:`.spool`: OTLP bodies the SDK could not deliver, kept for a later process.

Standard library only (and OpenTelemetry's protobuf classes to decode OTLP, imported when used): the
SDK writes here without importing the server.
"""
