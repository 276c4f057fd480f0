"""An OpenAI Agents SDK run (a triage agent handing over to a weather agent with a tool), recorded as a
session: workflow, agents, turns, the handoff, the tool call and each model call.

OPENAI_API_KEY=... python examples/openai_agents_handoff.py && agentops-otel sessions show <id>

``OPENAI_BASE_URL`` points it at any OpenAI-compatible server (the test runs it against a canned one).
"""

from __future__ import annotations

import os

import agents
from openai import AsyncOpenAI

import agentops_otel


@agents.function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def main() -> None:
    session_id = agentops_otel.init(tags=["example", "openai-agents"])
    print("session", session_id)
    client = AsyncOpenAI(base_url=os.environ.get("OPENAI_BASE_URL"), api_key=os.environ.get("OPENAI_API_KEY", "-"))
    # The traces go to agentops_otel; use_for_tracing=True would also send them to OpenAI.
    agents.set_default_openai_client(client, use_for_tracing=False)
    weather = agents.Agent(name="Weather agent", instructions="Answer with the tool.", tools=[get_weather])
    triage = agents.Agent(name="Triage", instructions="Hand weather questions over.", handoffs=[weather])
    result = agents.Runner.run_sync(triage, "What is the weather in Paris?")
    print(result.final_output)
    agentops_otel.end_session("Success")


if __name__ == "__main__":
    main()
