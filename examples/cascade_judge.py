"""A cascade with a judge of your own, registered as a plugin.

The cascade tries the cheap model first and escalates when the judge scores the answer below the
threshold. The built-in judge only checks structure (empty, refusal, truncated, malformed JSON or
tool call); here a plugin adds a domain rule: answers to "how many" questions must contain a
number. Offline by default; real OpenAI models when OPENAI_API_KEY is set.

    uv run python examples/cascade_judge.py
"""

from __future__ import annotations

import os
import re

from modelmuxer import ModelSpec, Muxer, hookimpl
from modelmuxer.backends import ModelCall, ModelResponse
from modelmuxer.context import RequestContext

REAL = bool(os.environ.get("OPENAI_API_KEY"))


class NeedsANumber:
    """Judge plugin: a 'how many' question needs a number in the answer."""

    @hookimpl
    def modelmuxer_judge(
        self, ctx: RequestContext, call: ModelCall, response: ModelResponse
    ) -> float | None:
        question = ctx.request.messages[-1].text.lower()
        if "how many" in question and not re.search(r"\d", response.text):
            return 0.0
        return None  # no opinion: the built-in structural judge decides


def models() -> list[str | ModelSpec]:
    if REAL:
        return ["openai/gpt-4o-mini", "openai/gpt-4o"]
    # offline: script the cheap model to answer in words, so the judge has something to reject
    return [
        ModelSpec(
            id="offline/openai/gpt-4o-mini",
            deployment={"extra": {"offline": {"reply": "Quite a lot of them, really."}}},
        ),
        "offline/openai/gpt-4o",
    ]


def main() -> None:
    muxer = Muxer(models(), strategy="cascade", plugins=[NeedsANumber()])
    for prompt in ["How many moons does Mars have?", "Say hello in French."]:
        completion = muxer.complete(prompt)
        steps = " > ".join(f"{a.model} ({a.outcome})" for a in completion.attempts)
        print(f"{prompt}\n  {steps}\n  answer: {completion.text[:70]!r}")
        print(f"  cost of every attempt: ${completion.cost_usd:.6f}\n")
    muxer.close()


if __name__ == "__main__":
    main()
