"""LiteLLM: keep your litellm.Router, let ModelMuxer pick the deployment of each request.

LiteLLM keeps its retries, cooldowns and fallbacks; ModelMuxer's strategy chooses among the
healthy deployments of the requested model group, or among every deployment for
``model="modelmuxer/auto"``, and reports one priced record per call and, when the request is
over, its end (the answer, every attempt, the total cost: what the audit log keeps).

Offline by default (``mock_response`` deployments, priced as the real models). With
OPENAI_API_KEY set, the same router calls OpenAI for real.

    uv run python examples/litellm_router.py
"""

from __future__ import annotations

import asyncio
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch the price map

import litellm

from modelmuxer import hookimpl
from modelmuxer.context import RequestContext
from modelmuxer.types import CallRecord, Completion
from modelmuxer_litellm import AUTO_GROUP, register, unregister

ONLINE = bool(os.environ.get("OPENAI_API_KEY"))


def deployment(ident: str, group: str, model: str) -> dict[str, object]:
    params: dict[str, object] = {"model": model}
    if not ONLINE:
        params["mock_response"] = f"(offline answer from {ident}, a {model} deployment)"
    return {"model_name": group, "litellm_params": params, "model_info": {"id": ident}}


MODEL_LIST = [
    deployment("chat-mini", "chat", "openai/gpt-4o-mini"),
    deployment("chat-4o", "chat", "openai/gpt-4o"),
    deployment("backup-4o", "backup", "openai/gpt-4o"),
]


class PrintRecords:
    """A ModelMuxer plugin: one line per call LiteLLM made (the ledger listens the same way)."""

    @hookimpl
    def modelmuxer_record(self, record: CallRecord) -> None:
        print(
            f"  record: {record.model:<10} {record.outcome:<5} {record.usage.total_tokens:>4} "
            f"tokens ${record.cost_usd:.6f} user={record.identity.user}"
        )


class PrintRequests:
    """A ModelMuxer plugin: one line per request, when it is over (the audit log listens here)."""

    @hookimpl
    def modelmuxer_request_end(
        self, ctx: RequestContext, completion: Completion | None, error: BaseException | None
    ) -> None:
        if completion is None:
            print(f"  request {ctx.request.request_id[:8]} failed: {error}")
            return
        tried = " -> ".join(f"{a.model} ({a.outcome})" for a in completion.attempts)
        print(f"  request {completion.request_id[:8]}: {tried}, ${completion.cost_usd:.6f} in all")


async def main() -> None:
    router = litellm.Router(model_list=MODEL_LIST, num_retries=2, fallbacks=[{"chat": ["backup"]}])
    register(
        router, strategy="hybrid", plugins=[PrintRecords(), PrintRequests()], load_entrypoints=False
    )
    questions = [
        ("chat", "What is the capital of Australia?"),
        ("chat", "Prove that sqrt(2) is irrational, then generalise to sqrt(p) for a prime p."),
        (AUTO_GROUP, "Say hello in French."),
    ]
    try:
        for group, question in questions:
            response = await router.acompletion(
                model=group,
                messages=[{"role": "user", "content": question}],
                user="demo-user",  # budgets and policies apply per user (and per key in the proxy)
                max_tokens=200,
            )
            choice = response._hidden_params["modelmuxer"]
            print(f"{group} <- {question}")
            print(f"  deployment: {choice['deployment']} ({choice['strategy']})")
            print(f"  why: {choice['reason']}")
            print(f"  answer: {response.choices[0].message.content[:100]}")
            await asyncio.sleep(0.1)  # LiteLLM reports the call just after answering
    finally:
        unregister(router)


if __name__ == "__main__":
    asyncio.run(main())
