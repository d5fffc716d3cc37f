"""``ChatModelMuxer``: a LangChain chat model that routes each call to the model that should answer.

Swap it in wherever a ``ChatOpenAI(...)`` was: prompts, parsers, tools, structured output,
streaming, callbacks and tracing keep working, and every call goes through one
:class:`~modelmuxer.Muxer` (its strategy, costs, budgets, limits and plugins).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Sequence
from contextlib import aclosing, closing, contextmanager, suppress
from typing import Any, TypeVar, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from langchain_modelmuxer.backend import (
    CURRENT_CALL,
    CallScope,
    LangChainBackend,
    LangChainBackendPlugin,
)
from langchain_modelmuxer.candidates import split_candidates
from langchain_modelmuxer.convert import (
    final_chunk,
    to_ai_message,
    to_muxer_messages,
    tool_call_chunks,
    tool_choice_to_muxer,
)
from langchain_modelmuxer.identity import identity_from, tags_from
from langchain_modelmuxer.runs import (
    RunManager,
    handing_over,
    run_for,
    stream_run,
    with_run_id,
)
from langchain_modelmuxer.structured import StructuredMethod, structured_runnable
from modelmuxer import Muxer, Request
from modelmuxer.analysis.tokens import estimate_tokens
from modelmuxer.config import MuxerSettings
from modelmuxer.errors import InvalidRequest
from modelmuxer.types import Completion, RoutingOptions, StreamChunk

__all__ = ["ChatModelMuxer"]

#: Call kwargs that are routing options or request fields, not generation parameters.
_ROUTING_KEYS = frozenset({"allow", "deny", "max_cost_usd"})
#: (``tags`` and ``metadata`` are LangChain's own: they come through the run, see ``_request``.)
_REQUEST_KEYS = frozenset({"identity", "request_id"})
#: Fields of this model that are routing options, and the call kwargs that set routing options.
_ROUTING_FIELDS = ("strategy", "quality_target", "cost_weight", "model")
_ROUTING_KWARGS = _ROUTING_KEYS | frozenset(_ROUTING_FIELDS)
#: ``tool_choice`` strings that are not a tool's name.
_TOOL_CHOICE_WORDS = ["auto", "none", "any", "required"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _signature_computed_once(method: _F) -> _F:
    """``method`` with its signature computed now: LangChain inspects the signature of
    ``_generate`` / ``_agenerate`` on every call (to see whether they take ``run_manager``),
    and ``inspect.signature`` returns a ``__signature__`` it finds instead of rebuilding it."""
    method.__signature__ = inspect.signature(method)  # type: ignore[attr-defined]
    return method


class ChatModelMuxer(BaseChatModel):
    """A chat model that routes each call among ``models``, through a ModelMuxer :class:`Muxer`.

    ``models`` are litellm ids (``"openai/gpt-4o-mini"``), :class:`~modelmuxer.ModelSpec`
    overrides, offline ids (``"offline/openai/gpt-4o"``), or LangChain chat model objects (bare
    or through :func:`~langchain_modelmuxer.wrap` for an id and price overrides). Or pass a ready
    ``muxer`` to share one across adapters (then ``models`` is ignored).

    Per call (``invoke(..., model=...)`` or ``.bind(...)``): ``model`` pins a candidate,
    ``strategy``, ``quality_target``, ``cost_weight``, ``max_cost_usd``, ``allow``, ``deny``
    steer routing, ``identity`` says who asks (else read from the run's config metadata
    ``user`` / ``org`` / ``project`` / ``role``); request tags are the run's config tags.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    models: list[Any] = Field(default_factory=list)
    """The candidates (see the class docstring)."""
    strategy: str | None = None
    """The routing strategy (``hybrid``, ``cost_optimized``, ``quality_first``, ``cascade``...)."""
    quality_target: float | None = Field(default=None, ge=0.0, le=1.0)
    """cost_optimized: the quality to reach (default: the settings')."""
    cost_weight: float | None = Field(default=None, ge=0.0, le=1.0)
    """hybrid: 0 = best quality, 1 = cheapest (default: the settings')."""
    model: str | None = None
    """Pin every call to this candidate (no routing); usually left unset."""
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    timeout: float | None = None
    """Seconds per model call (default: the settings')."""
    max_retries: int | None = None
    """Accepted for compatibility with LangChain's standard parameters; the muxer's own
    fallback and retry plugins decide retries."""
    streaming: bool = False
    """Answer ``invoke`` by streaming (as LangChain's provider models do)."""
    settings: MuxerSettings | None = Field(default=None, exclude=True)
    """Muxer settings (default: ``MODELMUXER_*`` environment variables)."""
    plugins: list[Any] = Field(default_factory=list, exclude=True)
    """Extra ModelMuxer plugins (ledger, budgets, policies...)."""
    load_entrypoints: bool | None = None
    """Load ``modelmuxer`` entry-point plugins (default: the settings')."""
    muxer: Muxer | None = Field(default=None, exclude=True, repr=False)
    """The muxer behind this chat model (built from the fields above when not given)."""

    #: The routing options of calls that set none, and the fields they were built from.
    _routing_cache: tuple[tuple[Any, ...], RoutingOptions] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _build_muxer(self) -> ChatModelMuxer:
        if self.muxer is None:
            split = split_candidates(self.models)
            plugins = list(self.plugins)
            if split.objects:
                backend = LangChainBackend(split.objects, split.aliases)
                plugins.append(LangChainBackendPlugin(backend))
            self.muxer = Muxer(
                split.specs or None,
                self.strategy,
                settings=self.settings,
                plugins=plugins,
                load_entrypoints=self.load_entrypoints,
            )
        else:
            self.muxer.strategies.get(self.strategy or self.muxer.default_strategy)
        return self

    def __getstate__(self) -> dict[Any, Any]:
        """Refused: the chat model holds a live muxer (see :func:`_not_copyable`)."""
        raise _not_copyable()

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> ChatModelMuxer:
        raise _not_copyable()

    # -- what LangChain asks of a chat model ----------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "modelmuxer"

    @property
    def _muxer(self) -> Muxer:
        assert self.muxer is not None  # set by the validator
        return self.muxer

    @property
    def _identifying_params(self) -> dict[str, Any]:
        """What makes two instances answer differently: LangChain's cache keys use it."""
        muxer = self._muxer
        return {
            "strategy": self.strategy or muxer.default_strategy,
            "models": muxer.catalog.ids(),
            "quality_target": self.quality_target,
            "cost_weight": self.cost_weight,
            "model": self.model,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stop": self.stop,
        }

    def _get_invocation_params(
        self, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        # What BaseChatModel's builds (through ``dict()``), without the warnings filter it sets
        # up on every call for subclasses overriding the deprecated ``dict()``.
        return {**self._identifying_params, "_type": self._llm_type, "stop": stop, **kwargs}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        model = kwargs.get("model") or self.model
        strategy = kwargs.get("strategy") or self.strategy or self._muxer.default_strategy
        params = LangSmithParams(
            ls_provider="modelmuxer",
            ls_model_name=model or f"modelmuxer:{strategy}",
            ls_model_type="chat",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        stop = stop or kwargs.get("stop") or self.stop
        if stop:
            params["ls_stop"] = stop
        return params

    def get_num_tokens(self, text: str) -> int:
        """Tokens in ``text``, estimated without downloading a tokenizer."""
        return estimate_tokens(text)

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return False

    # -- calls ------------------------------------------------------------------------------------

    @_signature_computed_once
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._request(messages, stop, run_manager, kwargs)
        token = CURRENT_CALL.set(CallScope(run_manager, messages, request.messages))
        try:
            completion = self._muxer.complete(request)
        finally:
            CURRENT_CALL.reset(token)
        return _result(completion)

    @_signature_computed_once
    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._request(messages, stop, run_manager, kwargs)
        token = CURRENT_CALL.set(CallScope(run_manager, messages, request.messages))
        try:
            completion = await self._muxer.acomplete(request)
        finally:
            CURRENT_CALL.reset(token)
        return _result(completion)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        run = run_manager if run_manager is not None else stream_run(self)
        request = self._request(messages, stop, run, kwargs)
        with _scope(run, messages, request):
            for chunk in self._muxer.stream(request):
                generation = _generation_chunk(chunk)
                # (LangChain reports the tokens itself when it gives no run manager)
                if run_manager is not None and generation.text:
                    run_manager.on_llm_new_token(generation.text, chunk=generation)
                yield generation

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        run = run_manager if run_manager is not None else stream_run(self)
        request = self._request(messages, stop, run, kwargs)
        with _scope(run, messages, request):
            async for chunk in self._muxer.astream(request):
                generation = _generation_chunk(chunk)
                if run_manager is not None and generation.text:
                    await run_manager.on_llm_new_token(generation.text, chunk=generation)
                yield generation

    # -- the run a stream belongs to (see langchain_modelmuxer.runs) ---------------------------

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        """LangChain's ``stream``, with its run handed to :meth:`_stream` (identity, tags,
        wrapped models' runs as children)."""
        config = with_run_id(config)
        stream = cast(
            "Generator[AIMessageChunk, None, None]",  # (LangChain annotates it as an Iterator)
            super().stream(input, config, stop=stop, **kwargs),
        )
        with closing(stream) as chunks:
            with handing_over(self, run_for(self, config, is_async=False)):
                first = next(chunks, None)  # LangChain opens the run and starts _stream
            if first is None:
                return
            yield first
            yield from chunks

    async def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        """LangChain's ``astream``, with its run handed to :meth:`_astream`."""
        config = with_run_id(config)
        stream = cast(
            "AsyncGenerator[AIMessageChunk, None]",
            super().astream(input, config, stop=stop, **kwargs),
        )
        async with aclosing(stream) as chunks:
            with handing_over(self, run_for(self, config, is_async=True)):
                first = await anext(chunks, None)  # LangChain opens the run, starts _astream
            if first is None:
                return
            yield first
            async for chunk in chunks:
                yield chunk

    def _generate_with_cache(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """LangChain's, with ``run_manager`` handed to :meth:`_stream` when it streams."""
        with handing_over(self, run_manager):
            return super()._generate_with_cache(
                messages, stop=stop, run_manager=run_manager, **kwargs
            )

    async def _agenerate_with_cache(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """LangChain's, with ``run_manager`` handed to :meth:`_astream` when it streams."""
        with handing_over(self, run_manager):
            return await super()._agenerate_with_cache(
                messages, stop=stop, run_manager=run_manager, **kwargs
            )

    # -- tools and structured output --------------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | bool | dict[str, Any] | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Offer ``tools`` to the model; only tool-capable candidates are then eligible.

        ``tool_choice``: ``"auto"``, ``"none"``, ``"any"`` / ``"required"`` / ``True`` (some
        tool must be called), or a tool's name (that tool must be called; a name no tool has
        raises :class:`~modelmuxer.errors.InvalidRequest`).
        """
        formatted = [convert_to_openai_tool(tool, strict=strict) for tool in tools]
        names = [tool["function"]["name"] for tool in formatted]
        if tool_choice is True and len(names) == 1:  # LangChain: True forces the one tool
            tool_choice = names[0]
        if isinstance(tool_choice, str) and tool_choice not in _TOOL_CHOICE_WORDS + names:
            raise InvalidRequest(
                f"tool_choice names {tool_choice!r}, but the tools are {names}",
                field="tool_choice",
            )
        choice = tool_choice_to_muxer(tool_choice)
        if choice is not None:
            kwargs["tool_choice"] = choice
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        include_raw: bool = False,
        method: StructuredMethod = "function_calling",
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Answers parsed into ``schema``: by a forced tool call (default), a JSON schema
        ``response_format`` (``method="json_schema"``) or JSON mode (``method="json_mode"``)."""
        return structured_runnable(
            self, schema, method=method, include_raw=include_raw, strict=strict, **kwargs
        )

    # -- internals --------------------------------------------------------------------------------

    def _request(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        run_manager: RunManager | None,
        kwargs: dict[str, Any],
    ) -> Request:
        routing = self._routing(kwargs)
        call: dict[str, Any] = {key: kwargs.pop(key) for key in _REQUEST_KEYS & kwargs.keys()}
        if run_manager is not None:
            if "identity" not in call:
                call["identity"] = identity_from(run_manager.metadata)
            if "tags" not in call:
                call["tags"] = tags_from(run_manager.tags)
        if "tool_choice" in kwargs:
            kwargs["tool_choice"] = tool_choice_to_muxer(kwargs["tool_choice"])
        timeout = kwargs.pop("timeout", None) or self.timeout
        if timeout is not None:
            kwargs["timeout_s"] = timeout
        stop = stop or self.stop
        if stop:
            kwargs["stop"] = stop
        if kwargs.get("temperature") is None and self.temperature is not None:
            kwargs["temperature"] = self.temperature
        if kwargs.get("max_tokens") is None and self.max_tokens is not None:
            kwargs["max_tokens"] = self.max_tokens
        params = {k: v for k, v in kwargs.items() if v is not None}
        return self._muxer.request(to_muxer_messages(messages), routing=routing, **call, **params)

    def _routing(self, kwargs: dict[str, Any]) -> RoutingOptions | dict[str, Any]:
        """The call's routing options: the call's own (taken out of ``kwargs``) over this
        model's. Without call options they are the same every call, so they are built once."""
        if _ROUTING_KWARGS.isdisjoint(kwargs):
            return self._default_routing()
        routing: dict[str, Any] = {}
        for key in ("strategy", "quality_target", "cost_weight"):
            value = kwargs.pop(key, None)
            if value is None:
                value = getattr(self, key)
            if value is not None:
                routing[key] = value
        for key in _ROUTING_KEYS & kwargs.keys():
            routing[key] = kwargs.pop(key)
        model = kwargs.pop("model", None) or self.model
        if model is not None:
            routing["model"] = model
        return routing

    def _default_routing(self) -> RoutingOptions | dict[str, Any]:
        """This model's routing options, validated once for as long as its fields stay the same
        (the raw fields when they are invalid, for the muxer to report)."""
        key = (self.strategy, self.quality_target, self.cost_weight, self.model)
        # read without pydantic's __getattr__ for private attributes (slow: it probes for a
        # descriptor through an AttributeError on every access)
        private = self.__pydantic_private__
        assert private is not None  # the model has private attributes
        cached: tuple[tuple[Any, ...], RoutingOptions] | None = private["_routing_cache"]
        if cached is not None and cached[0] == key:
            return cached[1]
        routing = {
            name: value
            for name, value in zip(_ROUTING_FIELDS, key, strict=True)
            if value is not None
        }
        try:
            options = RoutingOptions.model_validate(routing)
        except ValidationError:
            return routing
        private["_routing_cache"] = (key, options)
        return options


def _result(completion: Completion) -> ChatResult:
    """The answer as LangChain's result, with ``llm_output`` as LangChain's OpenAI model sets it
    (``token_usage``, ``model_name``): callback handlers written against ``on_llm_end``'s
    ``llm_output`` read usage there, newer ones from the message's ``usage_metadata``."""
    message = to_ai_message(completion)
    usage = completion.usage
    llm_output = {
        "token_usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        },
        "model_name": completion.model,
    }
    return ChatResult(generations=[ChatGeneration(message=message)], llm_output=llm_output)


def _generation_chunk(chunk: StreamChunk) -> ChatGenerationChunk:
    if chunk.completion is not None:
        return ChatGenerationChunk(message=final_chunk(chunk.completion))
    return ChatGenerationChunk(
        message=AIMessageChunk(
            content=chunk.text, tool_call_chunks=tool_call_chunks(chunk.tool_calls)
        )
    )


def _not_copyable() -> TypeError:
    """The error for pickling or deep-copying a chat model: its muxer is a process's live
    backends, caches, budgets and ledger connections, which copies would not share."""
    return TypeError(
        "ChatModelMuxer cannot be pickled or deep-copied: it holds a live Muxer (backends, "
        "caches, budgets, ledger connections). Build one in each process from the same models "
        "and settings; copy.copy() and model_copy() share this one's muxer."
    )


@contextmanager
def _scope(
    run_manager: RunManager | None, messages: Sequence[BaseMessage], request: Request
) -> Iterator[None]:
    """Hand the run and the caller's messages to the ``langchain`` backend for this call."""
    token = CURRENT_CALL.set(CallScope(run_manager, messages, request.messages))
    try:
        yield
    finally:
        # a stream closed from another context cannot reset; that context ends anyway
        with suppress(ValueError):
            CURRENT_CALL.reset(token)
