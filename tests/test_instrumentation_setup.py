"""instrument_all / uninstrument_all, in whichever order the user imports things (fresh processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

TESTS = os.path.dirname(__file__)

SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from llm_fixtures import CHAT_COMPLETION, Server, json_response, make_recording, openai_client
from agentops_otel.instrumentation import instrument_all, instrumented, uninstrument_all

rec = make_recording()
{before}
instrument_all(tracer_provider=rec.provider)
assert "openai" not in sys.modules or {imported_first}
import openai
print("instrumented:", ",".join(instrumented()))
openai_client(Server(json_response(CHAT_COMPLETION))).chat.completions.create(model="gpt-4o", messages=[])
print("spans:", len(rec.llm_spans()))
uninstrument_all()
openai_client(Server(json_response(CHAT_COMPLETION))).chat.completions.create(model="gpt-4o", messages=[])
print("after:", len(rec.llm_spans()))
instrument_all(tracer_provider=rec.provider)
openai_client(Server(json_response(CHAT_COMPLETION))).chat.completions.create(model="gpt-4o", messages=[])
print("again:", len(rec.llm_spans()))
"""


def _run(before: str, imported_first: bool) -> str:
    code = SCRIPT.format(tests=TESTS, before=before, imported_first=imported_first)
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_library_imported_after_instrument_all() -> None:
    out = _run("", imported_first=False)
    assert "instrumented: anthropic,openai" in out or "instrumented: openai" in out
    assert "spans: 1" in out and "after: 1" in out and "again: 2" in out


def test_library_imported_before_instrument_all() -> None:
    out = _run("import openai, anthropic", imported_first=True)
    assert "instrumented: anthropic,openai" in out
    assert "spans: 1" in out and "after: 1" in out and "again: 2" in out


def test_instrument_all_never_raises() -> None:
    from agentops_otel.instrumentation import instrument_all, uninstrument_all

    instrument_all(tracer_provider=object())  # nonsense provider: logged, not raised
    uninstrument_all()


# init() with the SDKs imported first: it must import nothing of theirs (openai loads its resources on
# first use; those modules are patched by post-import hooks as the SDK imports them), and calls made
# through every wrapped resource afterwards are recorded all the same.
INIT_SCRIPT = """
import json, os, sys
sys.path.insert(0, {tests!r})
import openai, anthropic
from llm_fixtures import (ANTHROPIC_MESSAGE, CHAT_COMPLETION, EMBEDDING_RESPONSE, RESPONSE_OBJECT, Server,
                          anthropic_client, json_response, make_recording, openai_client)
import agentops_otel

rec = make_recording()
{touch}
sdk = ("openai", "anthropic")
before = {{m for m in list(sys.modules) if m.split(".")[0] in sdk}}  # list(): the export worker imports too
agentops_otel.init(tracer_provider=rec.provider, db_path=os.path.join({tmp!r}, "store.db"))
print("new:", json.dumps(sorted(m for m in list(sys.modules) if m.split(".")[0] in sdk and m not in before)))

msgs = [{{"role": "user", "content": "Hi"}}]
openai_client(Server(json_response(CHAT_COMPLETION))).chat.completions.create(model="gpt-4o", messages=msgs)
openai_client(Server(json_response(RESPONSE_OBJECT))).responses.create(model="gpt-4.1", input="Hi")
openai_client(Server(json_response(EMBEDDING_RESPONSE))).embeddings.create(model="text-embedding-3-small", input="Hi")
client = anthropic_client(Server(json_response(ANTHROPIC_MESSAGE)))
client.messages.create(model="claude-sonnet-4-20250514", max_tokens=10, messages=msgs)
client.beta.messages.create(model="claude-sonnet-4-20250514", max_tokens=10, messages=msgs)
spans = [
    [s.attributes.get("gen_ai.provider.name"), s.attributes.get("gen_ai.operation.name"),
     s.attributes.get("gen_ai.request.model"), s.attributes.get("gen_ai.usage.input_tokens")]
    for s in rec.llm_spans()
]
print("spans:", json.dumps(spans))
"""

TOUCH = """
openai_client(Server(json_response({}))).chat.completions, openai_client(Server(json_response({}))).responses
openai_client(Server(json_response({}))).embeddings
"""

EXPECTED_SPANS = [
    ["openai", "chat", "gpt-4o", 1200],
    ["openai", "chat", "gpt-4.1", 50],
    ["openai", "embeddings", "text-embedding-3-small", 8],
    ["anthropic", "chat", "claude-sonnet-4-20250514", 1150],
    ["anthropic", "chat", "claude-sonnet-4-20250514", 1150],
]


def _lines(out: str) -> dict[str, Any]:
    found = {}
    for line in out.splitlines():
        key, _, value = line.partition(": ")
        if key in ("new", "spans"):
            found[key] = json.loads(value)
    return found


@pytest.mark.parametrize("touch", ["", TOUCH], ids=["resources-not-loaded", "resources-loaded"])
def test_init_imports_nothing_of_the_sdks_and_records_their_calls(touch: str, tmp_path: Path) -> None:
    code = INIT_SCRIPT.format(tests=TESTS, tmp=str(tmp_path), touch=touch)
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    found = _lines(out.stdout)
    assert found["new"] == []
    assert found["spans"] == EXPECTED_SPANS


# uninstrument_all while a module's hook is still pending: the hook fires later and does nothing, and
# instrumenting again patches the module now loaded; BaseInstrumentor's view follows the same state.
PENDING_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import openai
import wrapt
from llm_fixtures import RESPONSE_OBJECT, Server, json_response, make_recording, openai_client
from agentops_otel.instrumentation import instrument_all, uninstrument_all

rec = make_recording()
def call():
    openai_client(Server(json_response(RESPONSE_OBJECT))).responses.create(model="gpt-4.1", input="Hi")
    return len(rec.llm_spans())

def wrapped():
    from openai.resources.responses.responses import Responses
    return isinstance(Responses.__dict__["create"], wrapt.FunctionWrapper)

instrument_all(tracer_provider=rec.provider)
print("loaded at instrument:", "openai.resources.responses.responses" in sys.modules)
uninstrument_all()
print("off:", call(), wrapped())
instrument_all(tracer_provider=rec.provider)
from agentops_otel.instrumentation.openai import OpenAIInstrumentor
print("on:", call(), wrapped(), OpenAIInstrumentor().is_instrumented_by_opentelemetry)
OpenAIInstrumentor().uninstrument()
print("off again:", call(), wrapped(), OpenAIInstrumentor().is_instrumented_by_opentelemetry)
"""


def test_uninstrument_all_with_a_hook_pending() -> None:
    code = PENDING_SCRIPT.format(tests=TESTS)
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines == [
        "loaded at instrument: False",
        "off: 0 False",
        "on: 1 True True",
        "off again: 1 False False",
    ]
