"""A LlamaIndex FunctionAgent whose model calls are routed by ModelMuxer.

Offline by default: the offline backend calls the tools with arguments taken from the question,
then answers from the tool results. With OPENAI_API_KEY set, it uses OpenAI through litellm.

    uv run python examples/llamaindex_agent.py
"""

from __future__ import annotations

import asyncio
import os

from llama_index.core.agent.workflow import AgentStream, FunctionAgent, ToolCallResult
from llama_index.core.tools import FunctionTool

from llama_index.llms.modelmuxer import ModelMuxerLLM

REAL = bool(os.environ.get("OPENAI_API_KEY"))
PREFIX = "" if REAL else "offline/"


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def weather(city: str) -> str:
    """The current weather in a city."""
    return f"Sunny, 21 °C in {city}"


async def main() -> None:
    llm = ModelMuxerLLM(
        [f"{PREFIX}openai/gpt-4o-mini", f"{PREFIX}openai/gpt-4o"],
        identity={"user": "agent-demo"},
        tags=["agent-example"],
    )
    agent = FunctionAgent(
        tools=[FunctionTool.from_defaults(fn=multiply), FunctionTool.from_defaults(fn=weather)],
        llm=llm,
        system_prompt="You are a helpful assistant. Use the tools.",
    )
    for question in ("What is 6 times 7?", "What is the weather in Paris?"):
        print(f"Q: {question}")
        handler = agent.run(question)
        async for event in handler.stream_events():
            if isinstance(event, ToolCallResult):
                print(f"   tool {event.tool_name}({event.tool_kwargs}) -> {event.tool_output}")
            elif isinstance(event, AgentStream) and event.raw and "model" in event.raw:
                raw = event.raw
                print(f"   routed to {raw['model']}, ${raw['cost_usd']:.6f}")
        output = await handler
        print(f"A: {str(output)[:100]!r}\n")
    llm.close()


if __name__ == "__main__":
    asyncio.run(main())
