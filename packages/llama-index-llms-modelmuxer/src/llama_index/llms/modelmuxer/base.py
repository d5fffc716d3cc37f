"""ModelMuxerLLM: a LlamaIndex ``FunctionCallingLLM`` that routes every call through a Muxer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Literal

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.callbacks import CallbackManager
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM, ToolSelection

from llama_index.llms.modelmuxer.backend import (
    LlamaIndexBackend,
    LlamaIndexBackendPlugin,
    LlamaIndexModel,
)
from llama_index.llms.modelmuxer.convert import (
    StreamAssembler,
    response_extras,
    to_chat_message,
    to_messages,
    tool_selections,
)
from modelmuxer import Muxer
from modelmuxer.catalog import ModelLike
from modelmuxer.errors import ConfigError, InvalidRequest
from modelmuxer.types import Completion, GenerationParams, Identity, StreamChunk

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

    from modelmuxer.config import MuxerSettings

__all__ = ["Candidate", "ModelMuxerLLM"]

#: What may be a candidate: a litellm id / ModelSpec / card, or a LlamaIndex LLM object.
Candidate = ModelLike | LLM | LlamaIndexModel

#: Per-call keywords ModelMuxer understands; LlamaIndex passes others, which are not ours.
_CALL_KEYS = frozenset({"strategy", "model", "routing", "request_id"})
_PARAM_KEYS = frozenset(GenerationParams.model_fields)
_BUILT_IN_CHOICES = frozenset({"auto", "none", "required"})


class ModelMuxerLLM(FunctionCallingLLM):
    """A LlamaIndex LLM whose every call is routed by ModelMuxer to the model that should answer.

    ``Settings.llm = ModelMuxerLLM(["openai/gpt-4o-mini", "openai/gpt-4o"])`` routes every query
    engine, chat engine and agent of the application, with ModelMuxer's costs, budgets and
    limits. Candidates are litellm ids, :class:`~modelmuxer.ModelSpec`\\ s, and/or LlamaIndex LLM
    objects (as is, or wrapped in :class:`LlamaIndexModel` to set id, prices or quality).
    Alternatively pass a ready ``muxer=``.

    Per instance: ``strategy``, ``identity``, ``tags``, ``request_metadata``, ``routing``,
    ``temperature``, ``max_tokens``. Per call (keyword arguments of ``chat``, ``complete``...):
    the same, plus ``model`` (pin a candidate) and ``request_id``; call tags add to the
    instance's, a call identity overrides the instance's field by field.

    Every response carries the routed call: ``raw`` is provider-shaped data (``usage``,
    ``model``, ``cost_usd``, ``decision``), ``additional_kwargs`` the typed ``completion`` and
    ``decision`` with ``model`` and ``cost_usd``.

    ``metadata.context_window`` is by default the *smallest* candidate window
    (``context_window_policy="smallest"``): LlamaIndex packs prompts to fit it, so every candidate
    can serve every prompt and routing keeps its choice. ``"largest"`` packs more per call, and
    prompts beyond a model's window then route only to the models that can take them.
    """

    strategy: str | None = Field(default=None, description="routing strategy (muxer default)")
    identity: dict[str, str] | None = Field(default=None, description="user, org, project, role")
    tags: list[str] = Field(default_factory=list, description="tags on every request")
    request_metadata: dict[str, Any] = Field(
        default_factory=dict, description="metadata on every request"
    )
    routing: dict[str, Any] | None = Field(default=None, description="RoutingOptions fields")
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)
    context_window_policy: Literal["smallest", "largest"] = "smallest"

    _muxer: Muxer = PrivateAttr()
    _windows: tuple[int, int] = PrivateAttr()
    _min_output: int = PrivateAttr()
    _calls_tools: bool = PrivateAttr()
    _model_name: str = PrivateAttr()

    def __init__(
        self,
        models: Sequence[Candidate] | None = None,
        strategy: str | None = None,
        *,
        muxer: Muxer | None = None,
        settings: MuxerSettings | None = None,
        plugins: Iterable[object] = (),
        load_entrypoints: bool | None = None,
        callback_manager: CallbackManager | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(strategy=strategy, callback_manager=callback_manager, **kwargs)
        if muxer is None:
            muxer = _build_muxer(models, strategy, settings, plugins, load_entrypoints)
        elif models is not None or settings is not None:
            raise ConfigError("pass either muxer= or models / settings, not both")
        self._muxer = muxer
        cards = muxer.catalog.cards()
        windows = [c.context_window for c in cards]
        self._windows = (min(windows), max(windows))
        self._min_output = min(c.max_output_tokens for c in cards)
        self._calls_tools = any(c.capabilities.tools for c in cards)
        self._model_name = "modelmuxer[" + ", ".join(muxer.catalog.ids()) + "]"

    @classmethod
    def class_name(cls) -> str:
        return "ModelMuxerLLM"

    def __getstate__(self) -> dict[Any, Any]:
        """Refused: see :func:`_not_copyable` (LlamaIndex would drop the muxer and pickle an
        LLM that fails on its first call)."""
        raise _not_copyable(type(self).__name__)

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> ModelMuxerLLM:
        raise _not_copyable(type(self).__name__)

    @property
    def muxer(self) -> Muxer:
        """The muxer that routes this LLM's calls."""
        return self._muxer

    @property
    def metadata(self) -> LLMMetadata:
        """Chat model; function calling when any candidate calls tools (tool requests only route
        to those); context window per ``context_window_policy``; output from ``max_tokens`` or
        else the smallest candidate limit, at most half the window: LlamaIndex keeps
        ``num_output`` tokens of the window free for the answer, and an output limit as large
        as the window (some models have one) would leave no room for the prompt."""
        smallest, largest = self._windows
        window = smallest if self.context_window_policy == "smallest" else largest
        return LLMMetadata(
            context_window=window,
            num_output=self.max_tokens or min(self._min_output, window // 2),
            is_chat_model=True,
            is_function_calling_model=self._calls_tools,
            model_name=self._model_name,
        )

    def close(self) -> None:
        """Release the muxer's background loop (used by the sync methods)."""
        self._muxer.close()

    # -- chat ----------------------------------------------------------------------------------

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        completion = self._muxer.complete(to_messages(messages), **self._call_kwargs(kwargs))
        return _chat_response(completion)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        completion = await self._muxer.acomplete(to_messages(messages), **self._call_kwargs(kwargs))
        return _chat_response(completion)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        chunks = self._muxer.stream(to_messages(messages), **self._call_kwargs(kwargs))
        return _chat_stream(chunks)

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        chunks = self._muxer.astream(to_messages(messages), **self._call_kwargs(kwargs))
        return _achat_stream(chunks)

    # -- completion (the prompt as one user message) -------------------------------------------

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        completion = self._muxer.complete(_prompt(prompt), **self._call_kwargs(kwargs))
        return _completion_response(completion)

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        completion = await self._muxer.acomplete(_prompt(prompt), **self._call_kwargs(kwargs))
        return _completion_response(completion)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        chunks = self._muxer.stream(_prompt(prompt), **self._call_kwargs(kwargs))
        return (_as_completion(r) for r in _chat_stream(chunks))

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        chunks = self._muxer.astream(_prompt(prompt), **self._call_kwargs(kwargs))
        return (_as_completion(r) async for r in _achat_stream(chunks))

    # -- tools ---------------------------------------------------------------------------------

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        tool_choice: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The ``chat`` arguments offering ``tools`` (OpenAI tool shape) to the routed model."""
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            messages.append(ChatMessage(role=MessageRole.USER, content=user_msg))
        elif user_msg is not None:
            messages.append(user_msg)
        prepared: dict[str, Any] = {"messages": messages, **kwargs}
        if tools:
            prepared["tools"] = [t.metadata.to_openai_tool(skip_length_check=True) for t in tools]
            choice = _tool_choice(tool_choice, tool_required)
            if choice is not None:
                prepared["tool_choice"] = choice
        return prepared

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        """Keep only the first tool call unless parallel calls are allowed (as OpenAI's LLM):
        in the message's blocks and in its ``additional_kwargs["tool_calls"]``."""
        if not allow_parallel_tool_calls:
            message = response.message
            blocks = message.blocks
            calls = [b for b in blocks if isinstance(b, ToolCallBlock)]
            if len(calls) > 1:
                first = calls[0]
                message.blocks = [
                    b for b in blocks if not isinstance(b, ToolCallBlock) or b is first
                ]
            shaped = message.additional_kwargs.get("tool_calls")
            if isinstance(shaped, list) and len(shaped) > 1:
                message.additional_kwargs = {**message.additional_kwargs, "tool_calls": shaped[:1]}
        return response

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        """The tool calls of ``response`` (its ``ToolCallBlock``\\ s)."""
        selections = tool_selections(response.message)
        if not selections and error_on_no_tool_call:
            raise ValueError("Expected at least one tool call, but got 0 tool calls.")
        return selections

    # -- internals -----------------------------------------------------------------------------

    def _call_kwargs(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """ModelMuxer's keywords for a call: instance settings, overridden by the call's."""
        out: dict[str, Any] = {}
        if self.temperature is not None:
            out["temperature"] = self.temperature
        if self.max_tokens is not None:
            out["max_tokens"] = self.max_tokens
        if self.strategy is not None:
            out["strategy"] = self.strategy
        if self.routing:
            out["routing"] = self.routing
        for key, value in kwargs.items():
            if value is not None and (key in _PARAM_KEYS or key in _CALL_KEYS):
                out[key] = value
        identity = _merged_identity(self.identity, kwargs.get("identity"))
        if identity:
            out["identity"] = identity
        tags = _merged_tags(self.tags, kwargs.get("tags"))
        if tags:
            out["tags"] = tags
        metadata = _merged_metadata(self.request_metadata, kwargs.get("metadata"))
        if metadata:
            out["metadata"] = metadata
        return out


def _build_muxer(
    models: Sequence[Candidate] | None,
    strategy: str | None,
    settings: MuxerSettings | None,
    plugins: Iterable[object],
    load_entrypoints: bool | None,
) -> Muxer:
    """A muxer over ``models``; LlamaIndex objects get a backend of their own on it."""
    if models is None:
        return Muxer(
            None, strategy, settings=settings, plugins=plugins, load_entrypoints=load_entrypoints
        )
    specs: list[ModelLike] = []
    wrapped: dict[str, LlamaIndexModel] = {}
    for model in models:
        if isinstance(model, LLM):
            model = LlamaIndexModel(model)
        if isinstance(model, LlamaIndexModel):
            if model.id in wrapped:
                raise ConfigError(
                    f"two LlamaIndex objects are named {model.id!r}; give each LlamaIndexModel "
                    "its own id="
                )
            wrapped[model.id] = model
            specs.append(model.spec())
        else:
            specs.append(model)
    extra = list(plugins)
    if wrapped:
        extra.append(LlamaIndexBackendPlugin(LlamaIndexBackend(wrapped)))
    return Muxer(
        specs, strategy, settings=settings, plugins=extra, load_entrypoints=load_entrypoints
    )


def _merged_identity(base: Mapping[str, Any] | None, call: object) -> dict[str, Any] | None:
    if call is None:
        return dict(base) if base else None
    if isinstance(call, Identity):
        call = call.model_dump(exclude_none=True)
    if not isinstance(call, Mapping):
        return call  # type: ignore[return-value]  # the muxer reports the bad type
    return {**(base or {}), **{k: v for k, v in call.items() if v is not None}}


def _merged_tags(base: Sequence[str], call: object) -> object:
    """The instance's tags plus the call's; a value that is no tag or tags is passed on as it
    is, for the muxer to report as :class:`~modelmuxer.errors.InvalidRequest`."""
    if not call:
        return base
    if isinstance(call, str):
        return {*base, call}
    if not isinstance(call, Iterable):
        return call
    return {*base, *call}


def _merged_metadata(base: Mapping[str, Any], call: object) -> object:
    """The instance's metadata updated by the call's; a value that is no mapping is passed on
    as it is, for the muxer to report as :class:`~modelmuxer.errors.InvalidRequest`."""
    if not call:
        return base
    if not isinstance(call, Mapping):
        return call
    return {**base, **call}


def _not_copyable(name: str) -> TypeError:
    """The error for pickling or deep-copying an LLM that holds a live muxer (a process's
    backends, caches, budgets, ledger connections: copies of those would not be shared)."""
    return TypeError(
        f"{name} cannot be pickled or deep-copied: it holds a live Muxer (backends, caches, "
        "budgets, ledger connections). Build one in each process from the same models and "
        "settings (e.g. IngestionPipeline(num_workers=1), or the LLM made inside each worker); "
        "copy.copy() and model_copy() share this one's muxer."
    )


def _tool_choice(choice: str | dict[str, Any] | None, required: bool) -> Any:
    if isinstance(choice, str) and choice not in _BUILT_IN_CHOICES:
        return {"type": "function", "function": {"name": choice}}
    if choice is None and required:
        return "required"
    return choice


def _prompt(prompt: object) -> str:
    """The prompt of the completion methods, which the muxer sends as one user message.

    Raises :class:`~modelmuxer.errors.InvalidRequest` for a prompt that is not a string; the
    muxer raises it for an empty or blank one.
    """
    if not isinstance(prompt, str):
        raise InvalidRequest(
            f"expected the prompt as a string, got {type(prompt).__name__}", field="prompt"
        )
    return prompt


def _chat_response(completion: Completion) -> ChatResponse:
    raw, extras = response_extras(completion)
    message = to_chat_message(completion.text, completion.tool_calls)
    return ChatResponse(message=message, raw=raw, additional_kwargs=extras)


def _completion_response(completion: Completion) -> CompletionResponse:
    raw, extras = response_extras(completion)
    return CompletionResponse(text=completion.text, raw=raw, additional_kwargs=extras)


def _as_completion(response: ChatResponse) -> CompletionResponse:
    return CompletionResponse(
        text=response.message.content or "",
        delta=response.delta,
        raw=response.raw,
        additional_kwargs=response.additional_kwargs,
    )


def _chat_stream(chunks: Iterator[StreamChunk]) -> ChatResponseGen:
    assembler = StreamAssembler()
    try:
        for chunk in chunks:
            yield assembler.feed(chunk)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # an early stop ends the routed stream now, so its usage is recorded


async def _achat_stream(chunks: AsyncIterator[StreamChunk]) -> ChatResponseAsyncGen:
    assembler = StreamAssembler()
    async with aclosing(chunks) as stream:  # type: ignore[type-var]
        async for chunk in stream:
            yield assembler.feed(chunk)
