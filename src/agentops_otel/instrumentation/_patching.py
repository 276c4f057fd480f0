"""Patching a library without importing any of it: its modules are patched as they become imported.

A :class:`Patcher` knows a library's target modules by name only. ``instrument()`` patches the ones
already in ``sys.modules`` and registers a wrapt post-import hook for each of the others, so a module
the SDK loads lazily (openai resolves ``client.responses`` etc. on first attribute access) is patched
at the end of its own import, before anything can call through it. Nothing is imported to do so, not
even the module holding our wrappers while no target module is loaded: init stays fast.

wrapt has no way to remove a hook, so each one is registered once per module and checks ``active``
when it fires; ``uninstrument()`` restores every patched attribute.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from types import ModuleType
from typing import Any

import wrapt

logger = logging.getLogger("agentops_otel.instrumentation")

# openai: chat completions (a package since 1.66, a module before), Responses API, embeddings, and the
# stream helpers whose close() must end our span.
OPENAI_CHAT = "openai.resources.chat.completions.completions"
OPENAI_CHAT_OLD = "openai.resources.chat.completions"
OPENAI_RESPONSES = "openai.resources.responses.responses"
OPENAI_EMBEDDINGS = "openai.resources.embeddings"
OPENAI_CHAT_STREAM = "openai.lib.streaming.chat._completions"
OPENAI_RESPONSE_STREAM = "openai.lib.streaming.responses._responses"

# anthropic: messages (and beta messages); the base client carries the SDK's own tracing.
ANTHROPIC_MESSAGES = "anthropic.resources.messages.messages"
ANTHROPIC_BETA_MESSAGES = "anthropic.resources.beta.messages.messages"
ANTHROPIC_BASE_CLIENT = "anthropic._base_client"


class Patcher:
    """The patch state of one library, shared by ``instrument_all`` and the library's instrumentor.

    ``patches`` names the module of wrappers: its ``patch(patcher, module)`` patches one target module
    through :meth:`wrap` / :meth:`replace`. It is imported when the first target module is patched.
    The wrappers read ``active`` (pass through when False) and ``telemetry``.
    """

    def __init__(
        self, library: str, modules: tuple[str, ...], patches: str, package: str | None = None
    ) -> None:
        self.library = library
        #: The import name that says the library is loaded (default: ``library``).
        self.package = package or library
        self.modules = modules
        self._patches = patches
        self.active = False
        self.telemetry: Any = None
        self._providers: tuple[Any, Any] = (None, None)
        self._lock = threading.RLock()
        self._hooked: set[str] = set()  # modules with a hook registered that has not fired yet
        self._wrapped: list[tuple[Any, str]] = []
        self._replaced: list[tuple[Any, str, Any]] = []

    def instrument(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        """Patches the loaded target modules and hooks the others. A no-op while already active."""
        with self._lock:
            if self.active:
                return
            self.active = True
            self._providers = (tracer_provider, meter_provider)
            self.telemetry = None
            for name in self.modules:
                module = sys.modules.get(name)
                if module is not None:
                    self._apply(module)
                elif name not in self._hooked:
                    self._hooked.add(name)
                    # Fires at once (reentrantly, same thread) if the module got imported meanwhile.
                    wrapt.register_post_import_hook(self._on_import, name)

    def _on_import(self, module: ModuleType) -> None:
        # Runs inside the SDK's import statement: it must never raise (that would fail the import).
        try:
            with self._lock:
                self._hooked.discard(module.__name__)
                if self.active:
                    self._apply(module)
        except Exception:
            logger.debug("agentops_otel: could not patch %s", module, exc_info=True)

    def _apply(self, module: ModuleType) -> None:
        try:
            patches = importlib.import_module(self._patches)
            if self.telemetry is None:
                from agentops_otel import pricing
                from agentops_otel.instrumentation._core import Telemetry

                self.telemetry = Telemetry(*self._providers)
                pricing.warm_up()  # the price table, read off the caller's thread before the first call ends
            patches.patch(self, module)
        except Exception:
            logger.debug("agentops_otel: could not patch %s", module.__name__, exc_info=True)

    def wrap(self, owner: Any, path: str, wrapper: Any) -> None:
        """Wraps ``owner.<path>`` (e.g. ``module`` and ``"Completions.create"``) once; missing: skipped."""
        *parents, attr = path.split(".")
        try:
            for parent in parents:
                owner = getattr(owner, parent)
        except AttributeError:
            return
        if attr not in vars(owner) or any(o is owner and a == attr for o, a in self._wrapped):
            return  # not in this SDK version, or reached again through a re-exporting package
        wrapt.wrap_function_wrapper(owner, attr, wrapper)
        self._wrapped.append((owner, attr))

    def replace(self, owner: Any, attr: str, value: Any) -> None:
        """Sets ``owner.attr`` to ``value`` until :meth:`uninstrument`."""
        if any(o is owner and a == attr for o, a, _ in self._replaced):
            return
        original = vars(owner)[attr]
        setattr(owner, attr, value)
        self._replaced.append((owner, attr, original))

    def uninstrument(self) -> None:
        """Restores everything patched; pending hooks stay registered but do nothing while inactive."""
        with self._lock:
            # Bound wrappers cached by the SDK (with_raw_response) pass through once inactive.
            self.active = False
            while self._replaced:
                owner, attr, original = self._replaced.pop()
                try:
                    setattr(owner, attr, original)
                except Exception:
                    logger.debug("agentops_otel: could not restore %s", attr, exc_info=True)
            while self._wrapped:
                owner, attr = self._wrapped.pop()
                try:
                    current = vars(owner).get(attr)
                    if isinstance(current, wrapt.FunctionWrapper):
                        setattr(owner, attr, current.__wrapped__)
                except Exception:
                    logger.debug("agentops_otel: could not unwrap %s", attr, exc_info=True)


OPENAI = Patcher(
    "openai",
    (
        OPENAI_CHAT,
        OPENAI_CHAT_OLD,
        OPENAI_RESPONSES,
        OPENAI_EMBEDDINGS,
        OPENAI_CHAT_STREAM,
        OPENAI_RESPONSE_STREAM,
    ),
    "agentops_otel.instrumentation._openai",
)
ANTHROPIC = Patcher(
    "anthropic",
    (ANTHROPIC_MESSAGES, ANTHROPIC_BETA_MESSAGES, ANTHROPIC_BASE_CLIENT),
    "agentops_otel.instrumentation._anthropic",
)
LITELLM = Patcher(
    "litellm",
    ("litellm", "litellm.integrations.opentelemetry"),
    "agentops_otel.instrumentation._litellm",
)
OPENAI_AGENTS = Patcher(
    "openai_agents", ("agents",), "agentops_otel.instrumentation._openai_agents", package="agents"
)
LANGCHAIN = Patcher(
    "langchain",
    (
        "langchain_core.callbacks.base",
        "langchain_core.runnables.config",
        "langchain_core.language_models.chat_models",
    ),
    "agentops_otel.instrumentation._langchain",
    package="langchain_core",
)
GOOGLE_GENAI = Patcher(
    "google_genai",
    ("google.genai.models",),
    "agentops_otel.instrumentation._google_genai",
    package="google.genai",
)
CREWAI = Patcher(
    "crewai",
    (
        "crewai.crew",
        "crewai.task",
        "crewai.agent.core",
        "crewai.tools.base_tool",
        "crewai.tools.structured_tool",
    ),
    "agentops_otel.instrumentation._crewai",
)
PATCHERS = (OPENAI, ANTHROPIC, LITELLM, GOOGLE_GENAI, OPENAI_AGENTS, LANGCHAIN, CREWAI)
