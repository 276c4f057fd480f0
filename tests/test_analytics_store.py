"""``Session.get_analytics()`` in a user's process, reading the figures back from the local store the
spans went to: a SQLite file, or a PostgreSQL database named by ``AGENTOPS_DB`` (a real server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from agentops_otel.store import open_store

_SCRIPT = textwrap.dedent(
    """
    import json
    import agentops_otel as agentops

    session = agentops.init(instrument_llm_calls=False)
    session.record(agentops.LLMEvent(model="gpt-4o-mini", prompt_tokens=1000, completion_tokens=500))
    session.record(agentops.ToolEvent(name="search"))
    session.record(agentops.ErrorEvent(error_type="Timeout", details="slow"))
    print(json.dumps({"session_id": str(session), "figures": session.get_analytics(timeout=20)}))
    agentops.end_session("Success")
    """
)


def test_get_analytics_reads_either_store(store_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTOPS_")}
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "AGENTOPS_DB": store_url},
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    figures = answer["figures"]
    assert figures is not None, result.stderr
    assert (figures["LLM calls"], figures["Tool calls"], figures["Errors"], figures["Tokens"]) == (
        1,
        1,
        1,
        1500,
    )
    # The figures are the store's: the same as the CLI and the dashboard read.
    with open_store(store_url) as store:
        stored = store.get_session(answer["session_id"], with_spans=False)
    assert stored is not None and stored["llm_calls"] == 1 and stored["total_tokens"] == 1500
