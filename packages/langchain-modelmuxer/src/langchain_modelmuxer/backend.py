"""The ``langchain`` backend: candidates that are LangChain chat model objects.

:class:`LangChainBackend` calls a wrapped object (``ChatOpenAI``, ``ChatAnthropic``, a local or a
fake model) with the callbacks of the ``ChatModelMuxer`` run that routed to it, so the inner call
appears as a child run in traces. The run is handed over through :data:`CURRENT_CALL`, a context
variable :class:`~langchain_modelmuxer.ChatModelMuxer` sets around its muxer call (context
variables follow awaited coroutines and the muxer's sync bridge).
"""

from __future__ import annotations

import contextvars
import inspect
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
from langchain_core.globals import get_llm_cache
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
#: Where LangChain integrations put LangSmith gateway metadata in ``generation_info``; LangChain
#: leaves it out of ``response_metadata`` (``langchain_core.utils._gateway``, private).
_GATEWAY_METADATA_KEY = "lc_gateway_metadata"
#: Call kwargs LangChain's ``agenerate`` takes for tracing and never hands to the model.
_TRACING_ONLY_KWARGS = ("ls_structured_output_format", "structured_output_format")

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
        self._run_manager_param: dict[type[BaseChatModel], bool | None] = {}

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
            merged = {**bound, **kwargs}
            for key in _TRACING_ONLY_KWARGS:  # what ``agenerate`` keeps for its run's trace
                merged.pop(key, None)
            message: Any = await self._generate_directly(model, list(messages), merged)
        else:
            message = await runnable.ainvoke(messages, config, **kwargs)
        if not isinstance(message, AIMessage):
            message = AIMessage(content=str(getattr(message, "content", message)))
        content = message.content
        text = content if isinstance(content, str) else message.text  # (what .text returns)
        tool_calls = (
            tool_calls_to_muxer(message) if message.tool_calls or message.invalid_tool_calls else []
        )
        usage = usage_from_lc(message.usage_metadata) or _estimate(call, text)
        finish = "tool_calls" if tool_calls else _finish(message.response_metadata)
        return ModelResponse(
            text=text, finish_reason=finish, usage=usage, tool_calls=tool_calls, raw=message
        )

    async def _generate_directly(
        self, model: BaseChatModel, messages: list[BaseMessage], kwargs: dict[str, Any]
    ) -> BaseMessage:
        """The model's answer, as its ``_agenerate_with_cache`` gives it to a run-less call.

        When no cache is configured and the call does not stream, that method amounts to the
        rate limiter, ``_agenerate`` and merging the generation's info into the message's
        ``response_metadata``: done here without its per-call signature inspection and checks.
        Anything else (a cache, streaming, ``output_version="v1"``) goes through it.
        """
        takes_run_manager = self._takes_run_manager(model)
        if takes_run_manager is None or not _plain_call(model, kwargs):
            result = await model._agenerate_with_cache(messages, **kwargs)
            return result.generations[0].message
        if model.rate_limiter:
            await model.rate_limiter.aacquire(blocking=True)
        stop = kwargs.pop("stop", None)
        if takes_run_manager:
            result = await model._agenerate(messages, stop=stop, run_manager=None, **kwargs)
        else:
            result = await model._agenerate(messages, stop=stop, **kwargs)
        for generation in result.generations:
            info = generation.generation_info
            if info:
                generation.message.response_metadata = {
                    **{k: v for k, v in info.items() if k != _GATEWAY_METADATA_KEY},
                    **generation.message.response_metadata,
                }
        first = result.generations[0].message
        if len(result.generations) == 1 and result.llm_output is not None:
            first.response_metadata = {**result.llm_output, **first.response_metadata}
        return first

    def _takes_run_manager(self, model: BaseChatModel) -> bool | None:
        """Whether the model's ``_agenerate`` declares ``run_manager`` (LangChain passes it
        only then), inspected once per model class; ``None`` when it cannot be inspected."""
        cls = type(model)
        if cls in self._run_manager_param:
            return self._run_manager_param[cls]
        try:
            takes: bool | None = "run_manager" in inspect.signature(model._agenerate).parameters
        except (NameError, TypeError, ValueError):  # e.g. unresolvable annotations
            takes = None
        self._run_manager_param[cls] = takes
        return takes

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
            options: dict[str, Any] = {}
            choice = tool_choice_to_lc(params.tool_choice)
            if choice:
                options["tool_choice"] = choice
            if params.parallel_tool_calls is not None:  # (as langchain-openai takes it)
                options["parallel_tool_calls"] = params.parallel_tool_calls
            runnable = model.bind_tools(tools, **options)
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
    """The chat model behind ``runnable`` and its bound kwargs, when it can be called directly:
    no bound config, and no callbacks of the model's own (a run must then be opened for them)."""
    if isinstance(runnable, BaseChatModel):
        model, bound = runnable, {}
    elif (
        isinstance(runnable, RunnableBinding)
        and isinstance(runnable.bound, BaseChatModel)
        and not runnable.config
        and not runnable.config_factories
    ):
        model, bound = runnable.bound, dict(runnable.kwargs)
    else:
        return None
    if model.callbacks or model.verbose:
        return None
    return model, bound


def _plain_call(model: BaseChatModel, kwargs: Mapping[str, Any]) -> bool:
    """True when ``_agenerate_with_cache`` would neither use a cache nor stream this call."""
    cache = model.cache
    if cache is not False and (cache is not None or get_llm_cache() is not None):
        return False
    # (``model_fields_set`` first, as LangChain checks it: ``getattr`` on a model without a
    # ``streaming`` field goes through pydantic's slow ``__getattr__``)
    if kwargs.get("stream") or (
        "streaming" in model.model_fields_set and getattr(model, "streaming", None) is True
    ):
        return False
    return model.output_version != "v1"


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
