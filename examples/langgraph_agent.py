"""A LangGraph agent (LangChain's ``create_agent``) with one tool, recorded as a session: the graph as
the agent, its nodes, the tool call, and each model call nested under its node.

OPENAI_API_KEY=... python examples/langgraph_agent.py && agentops-otel sessions show <id>

``OPENAI_BASE_URL`` points it at any OpenAI-compatible server (the test runs it against a canned one).
"""

from __future__ import annotations

import os

from langchain.agents import create_agent
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

import agentops_otel


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def main() -> None:
    session_id = agentops_otel.init(tags=["example", "langgraph"])
    print("session", session_id)
    model = ChatOpenAI(model="gpt-4o-mini", base_url=os.environ.get("OPENAI_BASE_URL"))
    agent = create_agent(model, tools=[get_weather])
    result = agent.invoke({"messages": [{"role": "user", "content": "What is the weather in Paris?"}]})
    print(result["messages"][-1].content)
    agentops_otel.end_session("Success")


if __name__ == "__main__":
    main()
