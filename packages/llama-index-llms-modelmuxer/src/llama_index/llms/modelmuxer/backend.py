"""A ModelMuxer backend that calls LlamaIndex LLM objects the user already has.

Wrap an object in :class:`LlamaIndexModel` (or pass it as is) among the candidates of
:class:`~llama_index.llms.modelmuxer.ModelMuxerLLM`: it is priced through litellm's price map under
the object's model name (``metadata.model_name``) unless prices are given, and its ``metadata``
fills in the context window, output limit and tool support.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.callbacks.token_counting import get_tokens_from_response
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM
from llama_index.core.tools.types import BaseTool, ToolMetadata, ToolOutput

from llama_index.llms.modelmuxer.convert import to_chat_messages, tool_selections
from modelmuxer.analysis.tokens import estimate_request_tokens, estimate_tokens
from modelmuxer.backends import Backend, ModelCall, ModelResponse, StreamDelta
from modelmuxer.backends.litellm_backend import scrub_secrets
from modelmuxer.catalog import ModelSpec, lookup_model
from modelmuxer.errors import ConfigError, ModelMuxerError, ProviderError
from modelmuxer.hookspecs import hookimpl
from modelmuxer.types import (
    FinishReason,
    FunctionCall,
    Request,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
)

__all__ = ["BACKEND_NAME", "LlamaIndexBackend", "LlamaIndexBackendPlugin", "LlamaIndexModel"]

BACKEND_NAME = "llamaindex"
_SPEC_FIELDS = frozenset(ModelSpec.model_fields) - {"id", "backend"}


class LlamaIndexModel:
    """A LlamaIndex LLM object as a ModelMuxer candidate.

    ``id`` names the candidate in decisions and records (default ``llamaindex/<model_name>``);
    ``price_alias`` is the price-map key for its prices and limits (default the object's
    ``metadata.model_name``). Any other keyword is a :class:`~modelmuxer.ModelSpec` override:
    ``input_price_per_mtok``, ``output_price_per_mtok``, ``quality``, ``context_window``,
    ``capabilities``... An object whose model the price map does not know needs both prices.
    """

    __slots__ = ("id", "llm", "overrides", "price_alias")

    def __init__(
        self, llm: LLM, *, id: str | None = None, price_alias: str | None = None, **overrides: Any
    ) -> None:
        if not isinstance(llm, LLM):
            raise ConfigError(f"expected a LlamaIndex LLM object, got {type(llm).__name__}")
        unknown = set(overrides) - _SPEC_FIELDS
        if unknown:
            raise ConfigError(
                f"unknown model settings {sorted(unknown)}; known: "
                + ", ".join(sorted(_SPEC_FIELDS))
            )
        model_name = llm.metadata.model_name
        self.llm = llm
        self.id = id or f"{BACKEND_NAME}/{model_name}"
        self.price_alias = price_alias or model_name
        self.overrides = overrides

    def spec(self) -> ModelSpec:
        """The candidate's spec: the overrides, completed from the object's metadata."""
        meta = self.llm.metadata
        fields: dict[str, Any] = {"id": self.id, "backend": BACKEND_NAME, **self.overrides}
        fields.setdefault("context_window", meta.context_window)
        if meta.num_output > 0:
            fields.setdefault("max_output_tokens", min(meta.num_output, meta.context_window))
        capabilities = dict(fields.get("capabilities") or {})
        capabilities.setdefault("tools", _calls_tools(self.llm))
        fields["capabilities"] = capabilities
        priced = "input_price_per_mtok" in fields or "input_cost_per_token" in fields
        if not priced and lookup_model(self.price_alias) is None:
            raise ConfigError(
                f"model {self.id!r}: litellm's price map has no entry {self.price_alias!r} (the "
                "object's model name). Wrap it: LlamaIndexModel(llm, input_price_per_mtok=..., "
                "output_price_per_mtok=...), or give price_alias= a known model id."
            )
        return ModelSpec.model_validate(fields)


def _calls_tools(llm: LLM) -> bool:
    return isinstance(llm, FunctionCallingLLM) and llm.metadata.is_function_calling_model


class _SchemaToolMetadata(ToolMetadata):
    """Tool metadata whose parameters are a JSON schema rather than a pydantic model."""

    def __init__(self, name: str, description: str, parameters: dict[str, Any]) -> None:
        super().__init__(description=description, name=name)
        self.parameters = parameters

    def get_parameters_dict(self) -> dict[str, Any]:
        return self.parameters


class _SchemaTool(BaseTool):
    """A tool offered to a wrapped LLM; it is never run here (the caller's agent runs tools)."""

    def __init__(self, spec: ToolSpec) -> None:
        function = spec.function
        self._metadata = _SchemaToolMetadata(
            function.name, function.description or "", dict(function.parameters)
        )

    @property
    def metadata(self) -> ToolMetadata:
        return self._metadata

    def __call__(self, input: Any) -> ToolOutput:
        raise NotImplementedError("ModelMuxer only offers tools to the model; the caller runs them")


class LlamaIndexBackend:
    """Answers candidates that are LlamaIndex LLM objects (one backend per muxer)."""

    name = BACKEND_NAME

    def __init__(self, models: Mapping[str, LlamaIndexModel]) -> None:
        self._models = dict(models)

    def claims(self, model_id: str) -> bool:
        return model_id in self._models

    def price_alias(self, model_id: str) -> str:
        model = self._models.get(model_id)
        return model.price_alias if model is not None else model_id

    async def complete(self, call: ModelCall) -> ModelResponse:
        """Call the object's ``achat`` (``achat_with_tools`` when tools are offered)."""
        llm = self._llm(call)
        messages, tools, kwargs = _call_args(call)
        try:
            if tools:
                assert isinstance(llm, FunctionCallingLLM)  # routing only sends tools to those
                response = await llm.achat_with_tools(tools, chat_history=messages, **kwargs)
            else:
                response = await llm.achat(messages)
        except ModelMuxerError:
            raise
        except Exception as exc:
            raise _provider_error(exc, call) from exc
        text = response.message.content or ""
        calls = _tool_calls(llm, response) if tools else []
        usage = _usage(response, call.request, text, calls)
        finish: FinishReason = "tool_calls" if calls else "stop"
        return ModelResponse(
            text=text, finish_reason=finish, usage=usage, tool_calls=calls, raw=response
        )

    async def stream(self, call: ModelCall) -> AsyncIterator[StreamDelta]:
        """Stream the object's ``astream_chat``; tool calls arrive whole in the last deltas."""
        llm = self._llm(call)
        messages, tools, kwargs = _call_args(call)
        last: ChatResponse | None = None
        parts: list[str] = []
        try:
            if tools:
                assert isinstance(llm, FunctionCallingLLM)
                stream = await llm.astream_chat_with_tools(tools, chat_history=messages, **kwargs)
            else:
                stream = await llm.astream_chat(messages)
            async for last in stream:
                if last.delta:
                    parts.append(last.delta)
                    yield StreamDelta(text=last.delta)
        except ModelMuxerError:
            raise
        except Exception as exc:
            raise _provider_error(exc, call) from exc
        calls = _tool_calls(llm, last) if tools and last is not None else []
        for index, tool_call in enumerate(calls):
            function = tool_call.function
            delta = ToolCallDelta(
                index=index, id=tool_call.id, name=function.name, arguments=function.arguments
            )
            yield StreamDelta(tool_calls=(delta,))
        text = "".join(parts)
        usage = _usage(last, call.request, text, calls)
        yield StreamDelta(usage=usage, finish_reason="tool_calls" if calls else "stop")

    def _llm(self, call: ModelCall) -> LLM:
        model = self._models.get(call.card.id)
        if model is None:
            raise ConfigError(f"no LlamaIndex object is registered for model {call.card.id!r}")
        return model.llm


def _call_args(call: ModelCall) -> tuple[list[ChatMessage], list[BaseTool], dict[str, Any]]:
    params = call.request.params
    messages = to_chat_messages(call.request.messages)
    tools: list[BaseTool] = [_SchemaTool(spec) for spec in params.tools or ()]
    # LlamaIndex's own switch: False keeps the first tool call of an answer
    kwargs: dict[str, Any] = {"allow_parallel_tool_calls": params.parallel_tool_calls is not False}
    choice = params.tool_choice
    if choice == "required":
        kwargs["tool_required"] = True
    elif isinstance(choice, Mapping):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else choice.get("name")
        if name:
            kwargs["tool_choice"] = name
    if choice == "none":
        tools = []
    return messages, tools, kwargs


def _tool_calls(llm: LLM, response: ChatResponse) -> list[ToolCall]:
    try:
        assert isinstance(llm, FunctionCallingLLM)
        selections = llm.get_tool_calls_from_response(response, error_on_no_tool_call=False)
    except NotImplementedError:
        selections = tool_selections(response.message)
    return [
        ToolCall(
            id=s.tool_id or f"call_{i}",
            function=FunctionCall(name=s.tool_name, arguments=json.dumps(s.tool_kwargs)),
        )
        for i, s in enumerate(selections)
    ]


def _usage(
    response: ChatResponse | None, request: Request, text: str, calls: list[ToolCall]
) -> Usage:
    """The object's own token counts when its response reports them, estimates otherwise."""
    prompt = completion = 0
    if response is not None:
        try:
            prompt, completion = get_tokens_from_response(response)
        except (TypeError, ValueError, AttributeError):
            prompt = completion = 0
    if not prompt:
        prompt = estimate_request_tokens(request)
    if not completion:
        completion = estimate_tokens(text) + sum(
            estimate_tokens(c.function.name) + estimate_tokens(c.function.arguments) for c in calls
        )
    return Usage(prompt_tokens=int(prompt), completion_tokens=int(completion))


def _provider_error(exc: Exception, call: ModelCall) -> ProviderError:
    """A typed, scrubbed error for whatever the wrapped object raised.

    An HTTP status on the exception (most provider SDKs set ``status_code``) decides
    ``retryable``: 429 and 5xx are, other 4xx are not; without a status, trying again may help.
    """
    status = getattr(exc, "status_code", None)
    code = status if isinstance(status, int) else None
    retryable = code is None or code == 429 or code >= 500
    message = scrub_secrets(f"{type(exc).__name__}: {exc}")
    return ProviderError(message, model=call.card.id, status_code=code, retryable=retryable)


class LlamaIndexBackendPlugin:
    """The ModelMuxer plugin that registers a :class:`LlamaIndexBackend` on one muxer."""

    def __init__(self, backend: LlamaIndexBackend) -> None:
        self.backend = backend

    @hookimpl
    def modelmuxer_register_backends(self, register: Callable[[Backend], None]) -> None:
        register(self.backend)
