"""The litellm backend: calls any provider litellm supports. The fallback for unclaimed ids.

litellm is imported on the first call, in a worker thread: its import takes seconds, and
``import modelmuxer`` must stay fast (and must not block a running event loop). Its price map is
read from the local copy (``LITELLM_LOCAL_MODEL_COST_MAP``), so importing never touches the
network. Provider errors become :class:`~modelmuxer.errors.ProviderError` subclasses with
status codes and ``retryable``; their messages are scrubbed of anything that looks like a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from types import ModuleType
from typing import Any, Final

from modelmuxer._secrets import scrub_secrets  # re-exported: adapters scrub with it
from modelmuxer.analysis.tokens import estimate_request_tokens, estimate_tokens
from modelmuxer.backends.base import Backend, ModelCall, ModelResponse, StreamDelta
from modelmuxer.errors import (
    ConfigError,
    ProviderError,
    ProviderTimeout,
    RateLimitedByProvider,
)
from modelmuxer.hookspecs import hookimpl
from modelmuxer.types import FinishReason, FunctionCall, ModelCard, ToolCall, ToolCallDelta, Usage

__all__ = ["LiteLLMBackend", "finish_reason", "scrub_secrets"]

#: Keys the backend sets itself; ``deployment.extra`` may not override them (a key never
#: belongs on a card: ``deployment.api_key_env`` names the variable that holds it; retries are
#: the pipeline's, see ``reliability``).
_RESERVED: Final = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "api_key",
        "max_retries",
        "num_retries",
        "retry_policy",
    }
)

#: Exception classes (anywhere in an error's cause chain) that mean no HTTP answer came back:
#: the connection was refused, reset or dropped. litellm reports some of them as HTTP 500.
_NO_ANSWER: Final = frozenset(
    {
        "APIConnectionError",  # openai (its APITimeoutError subclass is mapped before)
        "ConnectError",
        "ReadError",
        "WriteError",
        "RemoteProtocolError",  # httpx
        "ServerDisconnectedError",
        "ClientConnectionError",
        "ClientPayloadError",  # aiohttp
        "ConnectionError",  # builtins (ConnectionResetError, ...)
    }
)

_FINISH: Final[Mapping[str, FinishReason]] = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "eos": "stop",
    "length": "length",
    "max_tokens": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
    "safety": "content_filter",
    "error": "error",
}

#: litellm exception class name -> (HTTP status, retryable), most specific first. Looked up by
#: name on ``litellm.exceptions`` so that this module never imports litellm.
_ERRORS: Final[tuple[tuple[str, int | None, bool], ...]] = (
    ("ContextWindowExceededError", 400, False),
    ("ContentPolicyViolationError", 400, False),
    ("AuthenticationError", 401, False),
    ("PermissionDeniedError", 403, False),
    ("NotFoundError", 404, False),
    ("UnprocessableEntityError", 422, False),
    ("BadRequestError", 400, False),
    ("ServiceUnavailableError", 503, True),
    ("BadGatewayError", 502, True),
    ("InternalServerError", 500, True),
    ("APIConnectionError", None, True),
    ("APIResponseValidationError", None, True),
)


class LiteLLMBackend:
    """Calls models through ``litellm.acompletion``. One instance per muxer."""

    name = "litellm"

    def __init__(self) -> None:
        self._litellm: ModuleType | None = None

    def claims(self, model_id: str) -> bool:
        return False  # the fallback: it serves the ids no other backend claims

    def price_alias(self, model_id: str) -> str:
        return model_id

    async def complete(self, call: ModelCall) -> ModelResponse:
        """Call the model once; raises a :class:`~modelmuxer.errors.ProviderError` on failure."""
        kwargs, secrets = _arguments(call)
        litellm = await self._module()
        _no_hidden_retries(litellm, kwargs)
        try:
            raw = await litellm.acompletion(**kwargs)
            response = _response(raw, call)
        except Exception as exc:
            error = _provider_error(litellm, exc, call, secrets)
        else:
            return response
        # Raised outside ``except`` so the original exception, whose text may hold the key,
        # is not chained to it (tracebacks and error trackers print chained exceptions); the
        # locals holding the key are dropped first (trackers that capture locals print them).
        del kwargs, secrets
        raise error

    async def stream(self, call: ModelCall) -> AsyncIterator[StreamDelta]:
        """Call the model streamed; the last delta carries usage and the finish reason."""
        kwargs, secrets = _arguments(call)
        litellm = await self._module()
        _no_hidden_retries(litellm, kwargs)
        error: ProviderError | None = None
        chunks: Any = None
        try:
            chunks = await litellm.acompletion(
                **kwargs, stream=True, stream_options={"include_usage": True}
            )
            async with contextlib.aclosing(_deltas(chunks, call)) as deltas:
                async for delta in deltas:
                    yield delta
        except Exception as exc:
            error = _provider_error(litellm, exc, call, secrets)
        finally:
            # A consumer that stops early must not leave the HTTP stream open.
            await _close(chunks)
        if error is not None:
            del kwargs, secrets  # see complete(): no key in the raising frame's locals
            raise error

    async def _module(self) -> ModuleType:
        """litellm, imported on first use in a thread (the import takes seconds)."""
        if self._litellm is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            self._litellm = await asyncio.to_thread(importlib.import_module, "litellm")
        return self._litellm


def _arguments(call: ModelCall) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The keyword arguments of ``litellm.acompletion`` and the secrets they contain."""
    card = call.card
    params = call.request.params
    kwargs: dict[str, Any] = {
        "model": card.id,
        "messages": [m.to_openai() for m in call.request.messages],
        "timeout": call.timeout_s,
    }
    for field in ("temperature", "top_p", "max_tokens", "stop", "seed", "tool_choice"):
        value = getattr(params, field)
        if value is not None:
            kwargs[field] = value
    if params.response_format is not None:
        kwargs["response_format"] = params.response_format
    if params.tools:
        kwargs["tools"] = [t.model_dump(mode="json", exclude_none=True) for t in params.tools]
        if params.parallel_tool_calls is not None:  # (OpenAI refuses it without tools)
            kwargs["parallel_tool_calls"] = params.parallel_tool_calls
    deployment = card.deployment
    if deployment.api_base:
        kwargs["api_base"] = deployment.api_base
    if deployment.api_version:
        kwargs["api_version"] = deployment.api_version
    secrets: tuple[str, ...] = ()
    if deployment.api_key_env:
        key = os.environ.get(deployment.api_key_env)
        if not key:
            raise ConfigError(
                f"model {card.id!r}: the environment variable {deployment.api_key_env} "
                "(deployment.api_key_env) is not set"
            )
        kwargs["api_key"] = key
        secrets = (key,)
    extra = {k: v for k, v in deployment.extra.items() if k != "offline"}
    reserved = sorted(_RESERVED.intersection(extra))
    if reserved:
        raise ConfigError(
            f"model {card.id!r}: deployment.extra may not set {', '.join(reserved)}: the "
            "backend sets them (put the key in an environment variable named by "
            "deployment.api_key_env; configure retries with the 'reliability' settings)"
        )
    # The pipeline retries and falls back itself; the provider SDK must not retry behind it.
    kwargs["max_retries"] = 0
    kwargs.update(extra)
    # credentials given in deployment.extra (masked on the card) are scrubbed by value too
    return kwargs, (*secrets, *deployment.secret_values())


def _no_hidden_retries(litellm: ModuleType, kwargs: dict[str, Any]) -> None:
    """Keep litellm's own retry loop off when someone switched it on globally.

    ``max_retries=0`` stops the provider SDK's retries; litellm's wrapper retries on its own
    when ``litellm.num_retries`` is set, unless the call says ``num_retries=0``.
    """
    if getattr(litellm, "num_retries", None):
        kwargs["num_retries"] = 0


async def _close(chunks: Any) -> None:
    close = getattr(chunks, "aclose", None)
    if close is None:
        return
    # Best effort: the answer (or its error) is what matters, not a failure to hang up.
    with contextlib.suppress(Exception):
        await close()


def finish_reason(reason: Any, has_tool_calls: bool) -> FinishReason:
    """ModelMuxer's finish reason for a provider's (litellm's) ``finish_reason``."""
    mapped = _FINISH.get(str(reason).lower(), "stop") if reason else "stop"
    # Some providers report "stop" for a turn that only calls tools.
    return "tool_calls" if has_tool_calls and mapped == "stop" else mapped


def _usage(raw: Any) -> Usage | None:
    usage = getattr(raw, "usage", None)
    if usage is None:
        return None
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    return Usage(
        prompt_tokens=getattr(usage, "prompt_tokens", None) or 0,
        completion_tokens=getattr(usage, "completion_tokens", None) or 0,
        cached_tokens=cached or 0,
    )


def _response(raw: Any, call: ModelCall) -> ModelResponse:
    choice = raw.choices[0]
    message = choice.message
    text = message.content or ""
    tool_calls = [
        _tool_call(i, tc.id, tc.function.name, tc.function.arguments, call.card)
        for i, tc in enumerate(getattr(message, "tool_calls", None) or ())
    ]
    usage = _usage(raw) or _estimated_usage(call, text, tool_calls)
    finish = finish_reason(choice.finish_reason, bool(tool_calls))
    return ModelResponse(
        text=text, finish_reason=finish, usage=usage, tool_calls=tool_calls, raw=raw
    )


def _tool_call(index: int, id_: Any, name: Any, arguments: Any, card: ModelCard) -> ToolCall:
    if not name:
        raise ProviderError("the provider returned a tool call without a name", model=card.id)
    return ToolCall(
        id=id_ or f"call_{index}", function=FunctionCall(name=name, arguments=arguments or "{}")
    )


def _estimated_usage(call: ModelCall, text: str, tool_calls: list[ToolCall]) -> Usage:
    # The provider sent no usage (some do not, especially when streaming): estimate it, so
    # costs and budgets are still counted rather than silently zero.
    completion = estimate_tokens(text) + sum(
        estimate_tokens(tc.function.name) + estimate_tokens(tc.function.arguments)
        for tc in tool_calls
    )
    return Usage(prompt_tokens=estimate_request_tokens(call.request), completion_tokens=completion)


async def _deltas(chunks: Any, call: ModelCall) -> AsyncGenerator[StreamDelta, None]:
    """litellm's stream chunks as deltas, then one final delta with usage and finish reason."""
    texts: list[str] = []
    calls: dict[int, list[str]] = {}  # index -> [name, arguments so far], for estimated usage
    usage: Usage | None = None
    reason: Any = None
    async for chunk in chunks:
        usage = _usage(chunk) or usage
        for choice in getattr(chunk, "choices", None) or ():
            reason = getattr(choice, "finish_reason", None) or reason
            delta = getattr(choice, "delta", None)
            if delta is None:
                continue
            text = getattr(delta, "content", None) or ""
            raw_calls = getattr(delta, "tool_calls", None) or ()
            pieces = tuple(_tool_delta(tc, calls) for tc in raw_calls)
            if text or pieces:
                texts.append(text)
                yield StreamDelta(text=text, tool_calls=pieces)
    if usage is None:
        # No usage chunk despite include_usage (the provider ignores it): estimate instead.
        completion = estimate_tokens("".join(texts)) + sum(
            estimate_tokens(name) + estimate_tokens(args) for name, args in calls.values()
        )
        usage = Usage(
            prompt_tokens=estimate_request_tokens(call.request), completion_tokens=completion
        )
    yield StreamDelta(usage=usage, finish_reason=finish_reason(reason, bool(calls)))


def _tool_delta(raw: Any, calls: dict[int, list[str]]) -> ToolCallDelta:
    index = getattr(raw, "index", None) or 0
    function = getattr(raw, "function", None)
    name = getattr(function, "name", None) if function is not None else None
    arguments = (getattr(function, "arguments", None) if function is not None else None) or ""
    seen = calls.setdefault(index, ["", ""])
    seen[0] += name or ""
    seen[1] += arguments
    return ToolCallDelta(index=index, id=getattr(raw, "id", None), name=name, arguments=arguments)


def _provider_error(
    litellm: ModuleType, exc: Exception, call: ModelCall, secrets: tuple[str, ...]
) -> ProviderError:
    """``exc`` as a typed error whose message holds no secret."""
    if isinstance(exc, ProviderError):
        return exc
    model = call.card.id
    exceptions = litellm.exceptions
    if isinstance(exc, exceptions.Timeout):
        return ProviderTimeout(model=model, timeout_s=call.timeout_s)
    message = scrub_secrets(f"{type(exc).__name__}: {exc}", secrets)
    if isinstance(exc, exceptions.RateLimitError):
        return RateLimitedByProvider(message, model=model, retry_after_s=_retry_after(exc))
    if _no_answer(exc):
        return ProviderError(message, model=model, retryable=True)
    for class_name, status, retryable in _ERRORS:
        error_class = getattr(exceptions, class_name, None)
        if error_class is not None and isinstance(exc, error_class):
            return ProviderError(message, model=model, status_code=status, retryable=retryable)
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool):
        if status == 429:
            return RateLimitedByProvider(message, model=model, retry_after_s=_retry_after(exc))
        retryable = status >= 500 or status in (408, 409)
        return ProviderError(message, model=model, status_code=status, retryable=retryable)
    return ProviderError(message, model=model)


def _no_answer(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is a connection failure."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if any(cls.__name__ in _NO_ANSWER for cls in type(current).__mro__):
            return True
        current = current.__cause__ or current.__context__
    return False


def _retry_after(exc: Exception) -> float | None:
    """The delay a 429 asks for, from ``retry-after-ms`` / ``retry-after`` headers (seconds)."""
    headers: Any = getattr(exc, "headers", None)
    if not headers:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(float(value) * scale, 0.0)
        except (TypeError, ValueError):
            continue  # an HTTP date: too rare to parse here
    return None


@hookimpl
def modelmuxer_register_backends(register: Callable[[Backend], None]) -> None:
    """Register the litellm backend (the fallback for ids no other backend claims)."""
    register(LiteLLMBackend())
