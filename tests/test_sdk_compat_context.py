"""``_sdk_compat.context_var_methods`` against the installed OpenTelemetry API: the wrappers' shortcut
to the runtime context must be the very state ``context.get_current`` and ``detach`` use."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import context

from agentops_otel import _sdk_compat
from agentops_otel.instrumentation import _core


def test_get_and_set_are_the_runtime_contexts_own() -> None:
    methods = _sdk_compat.context_var_methods()
    assert methods is not None  # the installed API's default runtime context is the contextvars one
    get, set_ = methods
    key = context.create_key("compat-test")
    before = context.get_current()
    assert get() is before
    token = set_(context.set_value(key, "on"))
    try:
        assert context.get_value(key) == "on"  # what attach would have made current
        assert get() is context.get_current()
    finally:
        context.detach(token)  # OpenTelemetry's detach takes the token set returned
    assert context.get_current() is before and context.get_value(key) is None


def test_the_wrappers_use_them() -> None:
    methods = _sdk_compat.context_var_methods()
    assert methods is not None
    assert _core.current_context == methods[0] and _core.attach_context == methods[1]


def test_none_for_another_runtime_context(monkeypatch: pytest.MonkeyPatch) -> None:
    class Other:
        _current_context: Any = None

    monkeypatch.setattr(context, "_RUNTIME_CONTEXT", Other())
    assert _sdk_compat.context_var_methods() is None
