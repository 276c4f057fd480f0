"""The ``agentops.sdk`` path of the ``agentops`` SDK, for code that imports its decorators from there:

    from agentops_otel.sdk.decorators import session, agent, operation, tool

A public face beside :mod:`agentops_otel` (it imports only from it); see docs/migrating-from-agentops.md.
"""
