"""A CrewAI crew (one agent with one tool, one task) recorded as a session: the crew, its task, the
agent, the tool call and each model call.

OPENAI_API_KEY=... python examples/crewai_crew.py && agentops-otel sessions show <id>

``OPENAI_BASE_URL`` points it at any OpenAI-compatible server (the test runs it against a canned one).
CrewAI's own anonymous telemetry is separate from this; ``CREWAI_DISABLE_TELEMETRY=true`` turns it off.
"""

from __future__ import annotations

import os

from crewai import LLM, Agent, Crew, Task
from crewai.tools import tool

import agentops_otel


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def main() -> None:
    session_id = agentops_otel.init(tags=["example", "crewai"])
    print("session", session_id)
    model = LLM(model="openai/gpt-4o-mini", base_url=os.environ.get("OPENAI_BASE_URL"))
    forecaster = Agent(
        role="Forecaster", goal="Tell the weather", backstory="A meteorologist.", tools=[get_weather], llm=model
    )
    task = Task(description="What is the weather in Paris?", expected_output="One line.", agent=forecaster)
    print(Crew(agents=[forecaster], tasks=[task]).kickoff().raw)
    agentops_otel.end_session("Success")


if __name__ == "__main__":
    main()
