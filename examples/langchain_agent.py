"""LangChain: a tool-calling agent on ChatModelMuxer (only tool-capable models are eligible).

Uses ``langchain``'s ``create_agent`` when installed, else a plain ``bind_tools`` loop. Offline by
default; with OPENAI_API_KEY / ANTHROPIC_API_KEY / MISTRAL_API_KEY set, real providers answer.

    uv run python examples/langchain_agent.py
"""

from __future__ import annotations

import os
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from langchain_modelmuxer import ChatModelMuxer

REAL_MODELS = {
    "OPENAI_API_KEY": ["openai/gpt-4o-mini", "openai/gpt-4o"],
    "ANTHROPIC_API_KEY": ["anthropic/claude-haiku-4-5"],
    "MISTRAL_API_KEY": ["mistral/mistral-small-latest"],
}
OFFLINE_MODELS = ["offline/openai/gpt-4o-mini", "offline/anthropic/claude-haiku-4-5"]


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"It is 21 degrees and sunny in {city}."


def candidates() -> list[str]:
    real = [m for key, models in REAL_MODELS.items() if os.environ.get(key) for m in models]
    return real or OFFLINE_MODELS


def run_loop(llm: ChatModelMuxer, question: str) -> list[BaseMessage]:
    """The agent loop by hand: call tools until the model answers in text."""
    with_tools = llm.bind_tools([get_weather])
    messages: list[BaseMessage] = [HumanMessage(question)]
    for _ in range(5):
        reply = with_tools.invoke(messages, config={"metadata": {"user": "demo-user"}})
        messages.append(reply)
        if not isinstance(reply, AIMessage) or not reply.tool_calls:
            break
        for call in reply.tool_calls:
            result = get_weather.invoke(call["args"])
            messages.append(ToolMessage(result, tool_call_id=call["id"]))
    return messages


def main() -> None:
    llm = ChatModelMuxer(models=candidates(), strategy="cost_optimized")
    question = "What's the weather in Paris?"
    try:
        from langchain.agents import create_agent
    except ImportError:
        messages = run_loop(llm, question)
    else:
        agent: Any = create_agent(llm, tools=[get_weather])
        messages = agent.invoke({"messages": [HumanMessage(question)]})["messages"]
    for message in messages:
        if isinstance(message, AIMessage) and message.tool_calls:
            calls = ", ".join(f"{c['name']}({c['args']})" for c in message.tool_calls)
            print(f"{message.response_metadata.get('model_name')} calls {calls}")
        elif isinstance(message, ToolMessage):
            print(f"tool -> {message.text}")
        elif isinstance(message, AIMessage):
            print(f"{message.response_metadata.get('model_name')}: {message.text}")


if __name__ == "__main__":
    main()
