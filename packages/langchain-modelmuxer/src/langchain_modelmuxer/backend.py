"""The ``langchain`` backend: candidates that are LangChain chat model objects.

:class:`LangChainBackend` calls a wrapped object (``ChatOpenAI``, ``ChatAnthropic``, a local or a
fake model) with the callbacks of the ``ChatModelMuxer`` run that routed to it, so the inner call
appears as a child run in traces. The run is handed over through :data:`CURRENT_CALL`, a context
variable :class:`~langchain_modelmuxer.ChatModelMuxer` sets around its muxer call (context
variables follow awaited coroutines and the muxer's sync bridge).
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    BaseCallbackManager,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig

from langchain_modelmuxer.convert import (
    to_lc_messages,
    tool_calls_to_muxer,
    tool_choice_to_lc,
    usage_from_lc,
)
from modelmuxer.analysis.tokens import estimate_request_tokens, estimate_tokens
from modelmuxer.backends import Backend, ModelCall, ModelResponse, StreamDelta
from modelmuxer.hookspecs import hookimpl
from modelmuxer.types import FinishReason, ToolCallDelta, Usage

__all__ = [
    "BACKEND_NAME",
    "CURRENT_CALL",
    "CallScope",
    "LangChainBackend",
    "LangChainBackendPlugin",
]

BACKEND_NAME = "langchain"

_FINISH: Mapping[str, FinishReason] = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "tool_calls": "tool_calls",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
}


@dataclass(frozen=True, slots=True)
class CallScope:
    """What the muxer call being made on behalf of a ``ChatModelMuxer`` run carries along.

    ``run`` is that run's manager (its children are the wrapped model's callbacks);
    ``messages`` the caller's own LangChain messages, passed as they are when the request still
    holds ``request_messages`` (nothing rewrote it), so provider-specific content survives.
    """

    run: AsyncCallbackManagerForLLMRun | CallbackManagerForLLMRun | None
    messages: Sequence[BaseMessage]
    request_messages: object


#: The scope of the ``ChatModelMuxer`` call in progress in this context, if any.
CURRENT_CALL: contextvars.ContextVar[CallScope | None] = contextvars.ContextVar(
    "langchain_modelmuxer_call", default=None
)


class LangChainBackend:
    """Calls LangChain chat model objects, by candidate id. One instance per muxer."""

    name = BACKEND_NAME

    def __init__(
        self, models: Mapping[str, Runnable[Any, Any]], aliases: Mapping[str, str]
    ) -> None:
        self._models = dict(models)
        self._aliases = dict(aliases)

    def claims(self, model_id: str) -> bool:
        return model_id in self._models

    def price_alias(self, model_id: str) -> str:
        return self._aliases.get(model_id, model_id)

    async def complete(self, call: ModelCall) -> ModelResponse:
        """Invoke the wrapped object once; its answer becomes a :class:`ModelResponse`."""
        runnable, messages, kwargs, config = self._prepare(call)
        direct = _direct_model(runnable) if config is None else None
        if direct is not None:
            # Nobody listens to callbacks: skip LangChain's run machinery (about as costly as
            # the whole routing), keeping the model's own cache and rate limiter.
            model, bound = direct
            result = await model._agenerate_with_cache(list(messages), **{**bound, **kwargs})
            message: Any = result.generations[0].message
        else:
            message = await runnable.ainvoke(messages, config, **kwargs)
        if not isinstance(message, AIMessage):
            message = AIMessage(content=str(getattr(message, "content", message)))
        tool_calls = tool_calls_to_muxer(message)
        usage = usage_from_lc(message.usage_metadata) or _estimate(call, message.text)
        finish = "tool_calls" if tool_calls else _finish(message.response_metadata)
        return ModelResponse(
            text=message.text, finish_reason=finish, usage=usage, tool_calls=tool_calls, raw=message
        )

    async def stream(self, call: ModelCall) -> AsyncIterator[StreamDelta]:
        """Stream the wrapped object; the last delta carries the summed usage."""
        runnable, messages, kwargs, config = self._prepare(call)
        usage: Usage | None = None
        finish: FinishReason | None = None
        texts: list[str] = []
        saw_tools = False
        async for chunk in runnable.astream(messages, config, **kwargs):
            if not isinstance(chunk, AIMessageChunk):
                continue
            part = usage_from_lc(chunk.usage_metadata)
            if part is not None:
                usage = part if usage is None else usage + part
            if chunk.response_metadata:
                finish = _finish(chunk.response_metadata, finish)
            deltas = tuple(
                ToolCallDelta(
                    index=tc.get("index") or 0,
                    id=tc.get("id"),
                    name=tc.get("name"),
                    arguments=tc.get("args") or "",
                )
                for tc in chunk.tool_call_chunks
            )
            saw_tools = saw_tools or bool(deltas)
            text = chunk.text
            if text or deltas:
                texts.append(text)
                yield StreamDelta(text=text, tool_calls=deltas)
        final_usage = usage or _estimate(call, "".join(texts))
        yield StreamDelta(
            usage=final_usage, finish_reason="tool_calls" if saw_tools else finish or "stop"
        )

    def _prepare(
        self, call: ModelCall
    ) -> tuple[Runnable[Any, Any], Sequence[BaseMessage], dict[str, Any], RunnableConfig | None]:
        model = self._models[call.card.id]
        request = call.request
        params = request.params
        scope = CURRENT_CALL.get()
        if scope is not None and scope.request_messages is request.messages:
            messages: Sequence[BaseMessage] = scope.messages
        else:
            messages = to_lc_messages(request.messages)
        config: RunnableConfig | None = None
        if scope is not None and scope.run is not None and scope.run.handlers:
            config = {"callbacks": _child_callbacks(scope.run)}
        runnable: Runnable[Any, Any] = model
        if params.tools:
            if not isinstance(model, BaseChatModel):
                raise TypeError(f"{call.card.id}: only chat models can be given tools")
            tools = [tool.model_dump(exclude_none=True) for tool in params.tools]
            choice = tool_choice_to_lc(params.tool_choice)
            runnable = model.bind_tools(tools, **({"tool_choice": choice} if choice else {}))
        kwargs: dict[str, Any] = {}
        if params.stop:
            kwargs["stop"] = params.stop
        # Generation parameters go where LangChain's provider models read them: call kwargs.
        for name in ("temperature", "max_tokens", "top_p", "seed", "response_format"):
            value = getattr(params, name)
            if value is not None:
                kwargs[name] = value
        return runnable, messages, kwargs, config


def _direct_model(runnable: Runnable[Any, Any]) -> tuple[BaseChatModel, dict[str, Any]] | None:
    """The chat model behind ``runnable`` and its bound kwargs, when it can be called directly."""
    if isinstance(runnable, BaseChatModel):
        return runnable, {}
    if (
        isinstance(runnable, RunnableBinding)
        and isinstance(runnable.bound, BaseChatModel)
        and not runnable.config
    ):
        return runnable.bound, dict(runnable.kwargs)
    return None


def _child_callbacks(
    run: AsyncCallbackManagerForLLMRun | CallbackManagerForLLMRun,
) -> BaseCallbackManager:
    """Callbacks for a run nested in ``run`` (what chain runs' ``get_child`` builds)."""
    manager = (
        AsyncCallbackManager(handlers=[], parent_run_id=run.run_id)
        if isinstance(run, AsyncCallbackManagerForLLMRun)
        else CallbackManager(handlers=[], parent_run_id=run.run_id)
    )
    manager.set_handlers(run.inheritable_handlers)
    manager.add_tags(run.inheritable_tags)
    manager.add_metadata(run.inheritable_metadata)
    return manager


def _finish(metadata: Mapping[str, Any], default: FinishReason | None = None) -> FinishReason:
    raw = metadata.get("finish_reason") or metadata.get("stop_reason")
    if isinstance(raw, str) and raw in _FINISH:
        return _FINISH[raw]
    return default or "stop"


def _estimate(call: ModelCall, text: str) -> Usage:
    """Usage for a model that reports none: the muxer's own token estimates."""
    return Usage(
        prompt_tokens=estimate_request_tokens(call.request), completion_tokens=estimate_tokens(text)
    )


class LangChainBackendPlugin:
    """The plugin that registers a :class:`LangChainBackend` on one muxer."""

    def __init__(self, backend: LangChainBackend) -> None:
        self.backend = backend

    @hookimpl
    def modelmuxer_register_backends(self, register: Callable[[Backend], None]) -> None:
        register(self.backend)
