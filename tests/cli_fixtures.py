"""Helpers of the CLI tests: stores filled by real SDK runs (a child process using ``agentops_otel`` with
the real ``openai`` client on a canned server on 127.0.0.1), and the CLI on a pseudo-terminal."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from contextlib import AbstractContextManager

from canned_http import chat_server

CJK_NAME = "翻译代理 🤖 — agent «multilingue» with a deliberately very long session name that keeps going on"
EMOJI_NAME = "émoji-🚀-bot"

# The child process: four sessions, as a user's agent would record them.
AGENT_SCRIPT = r"""
import json, sys
import openai
import agentops_otel
from agentops_otel import LLMEvent, record

client = openai.OpenAI(base_url=sys.argv[1], api_key="test-key", max_retries=0)

@agentops_otel.tool
def lookup(order):
    return {"order": order, "status": "shipped"}

@agentops_otel.tool
def fetch_invoice(order):
    raise ConnectionError(f"invoice service down for order {order}")

agentops_otel.init(tags=["cli-test"], capture_content=True, auto_start_session=False)
ids = {}
ids["support"] = str(agentops_otel.start_session(tags=["prod", "support"], name="support-agent"))
client.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is order 42?"}],
)
lookup(42)
try:
    fetch_invoice(42)
except ConnectionError:
    pass
agentops_otel.end_session("Success", "answered")

ids["cjk"] = str(agentops_otel.start_session(tags=["i18n"], name=sys.argv[2]))
record(LLMEvent(model="my-local-llama", prompt="翻译: hello", completion="你好", prompt_tokens=5, completion_tokens=2))
agentops_otel.end_session("Success", "translated")

ids["emoji"] = str(agentops_otel.start_session(tags=["prod"], name=sys.argv[3]))
lookup(7)
agentops_otel.end_session("Fail", "gave up")
print(json.dumps(ids))
"""


_LOOKUP_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "lookup", "arguments": '{"order": 42}'},
}


def canned_openai() -> AbstractContextManager[str]:
    """Every request: "Order 42 has shipped." with a call of the ``lookup`` tool."""
    message = {"role": "assistant", "content": "Order 42 has shipped.", "tool_calls": [_LOOKUP_CALL]}
    return chat_server(lambda request: (message, "tool_calls"))


def sdk_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_"))}
    env.update(extra)
    return env


def run_agent(llm_url: str, env: dict[str, str]) -> dict[str, str]:
    """The agent script in a child process; its session ids by role."""
    proc = subprocess.run(
        [sys.executable, "-c", AGENT_SCRIPT, llm_url, CJK_NAME, EMOJI_NAME],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    ids: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return ids


def cli_env(**extra: str) -> dict[str, str]:
    """The environment a user's shell gives the CLI: no AGENTOPS_* of the test run, no forced width."""
    env = sdk_env()
    for name in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR"):
        env.pop(name, None)
    env["TERM"] = "xterm-256color"
    env.update(extra)
    return env


def run_cli_env(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentops_otel.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def run_in_pty(
    *args: str, columns: int = 100, env: dict[str, str], timeout: float = 60
) -> tuple[int, str, str]:
    """``agentops-otel ARGS`` with stdout on a pseudo-terminal ``columns`` wide (stderr on a pipe):
    (exit code, what the terminal received, stderr)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.ONLCR  # "\n" stays "\n", as in a file
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentops_otel.cli", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError as exc:  # EIO: the child closed the terminal
                if exc.errno != errno.EIO:
                    raise
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    return code, b"".join(chunks).decode(), err


_SGR = re.compile(r"\x1b\[[0-9;]*m")


def plain(text: str) -> str:
    return _SGR.sub("", text)


# A session whose second model call fails before any token is used (a 500 from the demo's canned LLM,
# as in the demo): one priced call and one with nothing to price. Argument: the LLM's URL, then the
# backend's endpoint and API key (without them, the store named by AGENTOPS_DB). Prints the session id.
FAILED_CALL_SCRIPT = r"""
import sys
import openai
import agentops_otel

url, remote = sys.argv[1], sys.argv[2:4]
client = openai.OpenAI(base_url=url, api_key="test-key", max_retries=0)
if remote:
    agentops_otel.init(endpoint=remote[0], api_key=remote[1], auto_start_session=False)
else:
    agentops_otel.init(auto_start_session=False)
sid = str(agentops_otel.start_session(tags=["flaky"], name="flaky-agent"))
client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "plan the trip"}])
try:
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "please fail"}])
except openai.InternalServerError:
    pass
agentops_otel.end_session("Success", "survived a failed call")
assert agentops_otel.get_client().flush(20)
print(sid)
"""
