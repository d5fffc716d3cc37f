"""The response cache in the pipeline: look up before routing, store after the call.

:class:`ResponseCache` is what :class:`~modelmuxer.Muxer` calls: ``lookup(ctx)`` returns a
completion served from the cache (and broadcasts its call record), ``store(ctx, completion)``
keeps a fresh answer. Which requests are cached, and how the key is built, is in
``docs/caching.md``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from modelmuxer.cache.answers import AnswerStore
from modelmuxer.cache.keys import context_key, exact_key
from modelmuxer.cache.settings import CacheSettings
from modelmuxer.context import RequestContext
from modelmuxer.pipeline.calls import make_record
from modelmuxer.pipeline.router import Router
from modelmuxer.plugins import notify
from modelmuxer.types import (
    CacheStatus,
    Completion,
    Request,
    StreamChunk,
    ToolCallDelta,
    Usage,
)

if TYPE_CHECKING:  # the semantic cache loads numpy: only imported when it is on
    from modelmuxer.cache.semantic import SemanticCache

__all__ = ["ResponseCache", "replay"]

_KEY = "modelmuxer.cache.key"
_PROBE = "modelmuxer.cache.probe"
#: Answers worth serving again: not errors, not filtered ones.
_STORABLE = frozenset({"stop", "length", "tool_calls"})


class ResponseCache:
    """Exact (and optionally semantic) answers, partitioned by tenant.

    ``answers`` holds the completions; ``semantic`` (optional) finds the key of a similar
    earlier prompt. ``candidates`` are the muxer's model ids (part of the key of a request
    that is routed rather than pinned). ``router`` re-checks a hit against policy plugins.
    """

    def __init__(
        self,
        pm: pluggy.PluginManager,
        settings: CacheSettings,
        answers: AnswerStore,
        *,
        candidates: Sequence[str],
        router: Router,
        semantic: SemanticCache | None = None,
    ) -> None:
        self.settings = settings
        self.answers = answers
        self.semantic = semantic
        self._pm = pm
        self._candidates = tuple(candidates)
        self._router = router

    def caches(self, request: Request) -> bool:
        """Whether the exact cache applies to ``request`` (settings and per-call options)."""
        settings = self.settings
        if not settings.enabled:
            return False
        sampled_ok = settings.exact_sampled or (settings.semantic and settings.semantic_sampled)
        return sampled_ok or request.params.temperature == 0

    def _semantic_applies(self, request: Request) -> bool:
        if self.semantic is None:
            return False
        last = request.messages[-1]
        if last.role != "user" or last.has_images or not last.text:
            return False
        if self.settings.semantic_sampled:
            return True
        return request.params.temperature == 0 and not request.params.tools

    async def lookup(self, ctx: RequestContext) -> Completion | None:
        """The cached answer to ``ctx.request`` (its record broadcast), or ``None``."""
        request = ctx.request
        if not self.caches(request):
            return None
        t0 = time.perf_counter()
        scope = self.settings.tenant_scope
        key = exact_key(request, ctx.strategy, self._candidates, scope)
        ctx.state[_KEY] = key
        ctx.cache = "miss"
        if request.routing.cache.no_cache:
            return None
        found = await self.answers.get(key)
        if found is not None and self._allowed(ctx, found):
            return self._serve(ctx, found, "exact", t0)
        if self.semantic is None or not self._semantic_applies(request):
            return None
        partition = context_key(request, ctx.strategy, self._candidates, scope)
        probe = await self.semantic.probe(
            partition, request.messages[-1].text, request.routing.cache.semantic_threshold
        )
        ctx.state[_PROBE] = probe
        if probe.match is None:
            return None
        found = await self.answers.get(probe.match[0])
        if found is not None and self._allowed(ctx, found):
            return self._serve(ctx, found, "semantic", t0)
        return None

    async def store(self, ctx: RequestContext, completion: Completion) -> Completion:
        """Keep ``completion`` for requests like ``ctx.request``; returns it marked ``miss``
        when the cache was consulted (unchanged otherwise)."""
        key = ctx.state.get(_KEY)
        if key is None:
            return completion
        completion = completion.model_copy(update={"cache": "miss"})
        if completion.finish_reason not in _STORABLE or ctx.request.routing.cache.no_store:
            return completion
        ttl = self.settings.ttl_s
        await self.answers.put(key, completion, ttl)
        probe: Any = ctx.state.get(_PROBE)
        if probe is None and self.semantic is not None and self._semantic_applies(ctx.request):
            # no_cache skipped the probe: embed now so later similar prompts find this answer
            probe = await self.semantic.probe(
                context_key(
                    ctx.request, ctx.strategy, self._candidates, self.settings.tenant_scope
                ),
                ctx.request.messages[-1].text,
            )
        if probe is not None and self.semantic is not None:
            await self.semantic.remember(probe, key, ttl)
        return completion

    async def stored_chunk(self, ctx: RequestContext, chunk: StreamChunk) -> StreamChunk:
        """``chunk`` with its completion stored (a stream that reached its end)."""
        if chunk.completion is None:
            return chunk
        completion = await self.store(ctx, chunk.completion)
        return chunk.model_copy(update={"completion": completion})

    async def aclose(self) -> None:
        """Close the backend's connections of the running event loop (the Redis semantic index
        shares the answers' connections)."""
        await self.answers.aclose()

    def _allowed(self, ctx: RequestContext, found: Completion) -> bool:
        """A hit is served only if the model that wrote it may answer this request now: a
        policy plugin may exclude it for this identity (runs routing's eligibility step)."""
        if not self._pm.hook.modelmuxer_filter_candidates.get_hookimpls():
            return True
        task = self._router.task(ctx)
        return any(c.model == found.model for c in task.candidates)

    def _serve(
        self, ctx: RequestContext, found: Completion, status: CacheStatus, t0: float
    ) -> Completion:
        ctx.cache = status
        served = found.model_copy(
            update={
                "request_id": ctx.request.request_id,
                "cost_usd": 0.0,
                "saved_usd": found.cost_usd,
                "cache": status,
                "attempts": [],
                "latency_s": time.perf_counter() - t0,
            }
        )
        self._record(ctx, served)
        return served

    def _record(self, ctx: RequestContext, served: Completion) -> None:
        hook = self._pm.hook.modelmuxer_record
        if not hook.get_hookimpls():
            return
        decision = served.decision
        record = make_record(
            ctx,
            decision,
            model=served.model,
            provider=served.provider,
            attempt=0,
            started_at=time.time(),
            usage=Usage(),  # no tokens were spent
            cost_usd=0.0,
            latency_s=served.latency_s,
            streamed=ctx.stream,
            outcome="ok",
            reason=f"served from the {served.cache} cache; first answer: {decision.reason}",
            saved_usd=served.saved_usd,
        )
        notify(hook, record=record)


def replay(completion: Completion) -> list[StreamChunk]:
    """A cached answer as a stream: its content in one chunk, then the completion chunk."""
    chunks = []
    if completion.text or completion.tool_calls:
        deltas = [
            ToolCallDelta(index=i, id=c.id, name=c.function.name, arguments=c.function.arguments)
            for i, c in enumerate(completion.tool_calls)
        ]
        chunks.append(StreamChunk(text=completion.text, tool_calls=deltas, model=completion.model))
    chunks.append(StreamChunk(model=completion.model, completion=completion))
    return chunks
