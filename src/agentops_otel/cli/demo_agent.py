"""The demo's agent: a researcher that plans, searches in worker threads, survives a failed LLM call,
asks a second service over HTTP, hands work to a child process and streams its summary.

Each step prints one progress line. Everything it calls runs on 127.0.0.1.
"""

from __future__ import annotations

import json
import multiprocessing
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import agentops_otel
from agentops_otel import ActionEvent, record
from agentops_otel.cli.demo_llm import FAIL_MARKER

Say = Callable[[str], None]


def _llm(base_url: str) -> Any:
    import openai

    return openai.OpenAI(base_url=base_url, api_key="demo-key-not-secret", max_retries=0)


@agentops_otel.tool
def search(query: str) -> list[str]:
    return [f"{query}: result {i}" for i in range(3)]


@agentops_otel.tool(name="translate")
def translate(service_url: str, text: str) -> str:
    """Ask the translator service; the W3C headers carry the session (the contrib requests/httpx
    instrumentations inject the same headers; here it is done by hand to show them)."""
    from opentelemetry import propagate

    headers = {"Content-Type": "application/json"}
    propagate.inject(headers)
    request = urllib.request.Request(
        service_url + "/translate", data=json.dumps({"text": text}).encode(), headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["translation"])


@agentops_otel.tool(name="index_notes")
def index_notes(base_url: str, notes: str) -> None:
    """Runs in a child process: its spans join the parent's session."""
    _llm(base_url).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"Keywords for the index: {notes}"}]
    )


def _child_context() -> Any:
    # fork: the child inherits the session as it is; spawn (where fork is absent) joins it by id.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


@agentops_otel.agent(name="researcher")
def research(topic: str, llm_url: str, service_url: str | None, say: Say) -> str:
    llm = _llm(llm_url)
    plan = llm.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"Make a plan to research {topic}"}]
    )
    say("planned the research                  chat gpt-4o-mini")

    queries = [f"{topic} {aspect}" for aspect in ("thrust", "materials", "missions")]
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="search") as pool:
        hits = [hit for found in pool.map(search, queries) for hit in found]
    say(f"searched {len(queries)} topics in worker threads     execute_tool search x{len(queries)}")

    try:
        llm.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"Fact-check, {FAIL_MARKER}"}]
        )
    except Exception as exc:  # the LLM span records the error; the run goes on
        say(f"a fact-check call failed: {type(exc).__module__.split('.')[0]}.{type(exc).__name__}, recorded")

    if service_url is not None:
        translated = translate(service_url, plan.choices[0].message.content or "")
        say(f"translated over HTTP: the translator service joined the session ({translated[:24]}...)")
    else:
        say("(the translator service did not start: step skipped)")

    child = _child_context().Process(target=index_notes, args=(llm_url, " ".join(hits)), name="indexer")
    child.start()
    child.join(30)
    say(f"indexed the notes in child process {child.pid}: it inherited the session")

    stream = llm.chat.completions.create(
        model="gpt-4o",
        stream=True,
        messages=[
            {"role": "system", "content": plan.choices[0].message.content or ""},
            {"role": "user", "content": f"Summarise {len(hits)} findings on {topic}"},
        ],
    )
    chunks = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    summary = "".join(chunks).strip()
    say(f"streamed the summary                  chat gpt-4o, {len(chunks)} chunks")
    record(ActionEvent(action_type="save_notes", params={"topic": topic}, returns=len(summary)))
    return summary


def run(llm_url: str, service_url: str | None, say: Say) -> str:
    """The agent's run, in the caller's active session."""
    return research("solar sails", llm_url, service_url, say)
