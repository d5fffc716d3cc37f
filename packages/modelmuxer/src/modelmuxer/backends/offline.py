"""The offline backend: deterministic, free, instant answers for tests, demos and benchmarks.

It serves every model id starting with ``offline/`` and prices ``offline/openai/gpt-4o-mini``
as ``openai/gpt-4o-mini``, so routing and cost accounting behave as with the real model. The
same model and request always get the same answer. It calls tools, writes JSON for a schema,
honours ``max_tokens`` and ``stop``, and can be told to be slow, to fail or to refuse through
:class:`OfflineBehavior` settings in ``card.deployment.extra["offline"]``, overridden per request
by ``request.metadata["offline"]``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelmuxer.analysis.tokens import estimate_request_tokens, estimate_tokens
from modelmuxer.backends import _offline_json as js
from modelmuxer.backends import _offline_text as tx
from modelmuxer.backends.base import Backend, ModelCall, ModelResponse, StreamDelta
from modelmuxer.errors import (
    ConfigError,
    ProviderError,
    ProviderTimeout,
    RateLimitedByProvider,
)
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

__all__ = ["OfflineBackend", "OfflineBehavior"]

FailureKind = Literal["timeout", "rate_limit", "server_error", "bad_request", "auth"]

_PREFIX = "offline/"
#: Bound on the per-backend cache of parsed card settings (one entry per card id).
_MAX_CACHED = 1024
_ARGUMENT_PIECE = 24


class OfflineBehavior(BaseModel):
    """How an offline model behaves. Card settings, overridden field by field per request.

    ``latency_s`` is slept before answering (before the first chunk when streaming) and
    ``tokens_per_s`` paces the stream. ``fail`` makes the call raise the matching typed error
    with probability ``fail_rate``, decided by a hash of (model, request, attempt) so runs are
    reproducible: ``timeout`` raises :class:`~modelmuxer.errors.ProviderTimeout` at once (the
    pipeline enforces real timeouts; set ``latency_s`` to test those), the others raise after
    ``latency_s``. When streaming, ``fail_after_chunks`` delays the failure until that many chunks
    were sent (``fail`` defaults to ``"server_error"`` then); non-streamed calls ignore it.
    ``refuse``, ``empty`` and ``reply`` replace the answer by a refusal, nothing, or a fixed text.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    latency_s: float = Field(default=0.0, ge=0.0)
    tokens_per_s: float = Field(default=0.0, ge=0.0)
    fail: FailureKind | None = None
    fail_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    fail_after_chunks: int | None = Field(default=None, ge=0)
    retry_after_s: float | None = Field(default=None, ge=0.0)
    refuse: bool = False
    empty: bool = False
    reply: str | None = None


class OfflineBackend:
    """Answers ``offline/...`` models locally. One instance per muxer."""

    name = "offline"

    def __init__(self) -> None:
        # card id -> (the raw settings they were parsed from, the parsed settings)
        self._behaviors: dict[str, tuple[Any, OfflineBehavior]] = {}
        # request key -> composed answer: a repeated request costs a dict lookup
        self._texts: dict[int, str] = {}

    def claims(self, model_id: str) -> bool:
        return model_id.startswith(_PREFIX)

    def price_alias(self, model_id: str) -> str:
        return model_id[len(_PREFIX) :] if model_id.startswith(_PREFIX) else model_id

    async def complete(self, call: ModelCall) -> ModelResponse:
        """The answer to ``call``; raises the configured failure, if any."""
        behavior = self.behavior(call)
        key = _request_key(call)
        failure = _failure(behavior, call, key, streaming=False)
        if failure == "timeout":
            raise _error(failure, call, behavior)
        if behavior.latency_s > 0:
            await asyncio.sleep(behavior.latency_s)
        if failure is not None:
            raise _error(failure, call, behavior)
        return _answer(call, behavior, key, self._composed)

    async def stream(self, call: ModelCall) -> AsyncIterator[StreamDelta]:
        """The answer of :meth:`complete` in pieces; the last delta carries usage."""
        behavior = self.behavior(call)
        key = _request_key(call)
        failure = _failure(behavior, call, key, streaming=True)
        fail_after = behavior.fail_after_chunks if failure is not None else None
        if failure == "timeout" and fail_after is None:
            raise _error(failure, call, behavior)
        if behavior.latency_s > 0:
            await asyncio.sleep(behavior.latency_s)
        if failure is not None and fail_after is None:
            raise _error(failure, call, behavior)
        response = _answer(call, behavior, key, self._composed)
        for sent, delta in enumerate(_deltas(response)):
            if fail_after is not None and sent >= fail_after:
                raise _error(failure or "server_error", call, behavior)
            yield delta
            if behavior.tokens_per_s > 0:
                await asyncio.sleep(_delta_tokens(delta) / behavior.tokens_per_s)
        if fail_after is not None:
            raise _error(failure or "server_error", call, behavior)
        yield StreamDelta(usage=response.usage, finish_reason=response.finish_reason)

    def behavior(self, call: ModelCall) -> OfflineBehavior:
        """The settings for ``call``: the card's, overridden by the request's metadata.

        Raises :class:`~modelmuxer.errors.ConfigError` naming the field when a setting is invalid.
        """
        card = call.card
        raw = card.deployment.extra.get("offline")
        cached = self._behaviors.get(card.id)
        if cached is not None and (cached[0] is raw or cached[0] == raw):
            base = cached[1]
        else:
            base = _parse(raw, card.id, "deployment.extra['offline']")
            if len(self._behaviors) >= _MAX_CACHED:
                self._behaviors.clear()
            self._behaviors[card.id] = (raw, base)
        override = call.request.metadata.get("offline")
        if not override:
            return base
        if not isinstance(override, Mapping):
            raise ConfigError(
                f"offline settings for {card.id!r} in request.metadata['offline'] must be a "
                f"mapping, not {type(override).__name__}"
            )
        merged = {**(raw or {}), **override}
        return _parse(merged, card.id, "request.metadata['offline']")

    def _composed(self, question: str, key: int) -> str:
        """The free-text answer for the request hashed to ``key`` (memoised, bounded)."""
        text = self._texts.get(key)
        if text is None:
            if len(self._texts) >= _MAX_CACHED:
                self._texts.clear()
            text = self._texts[key] = tx.compose_answer(question, key)
        return text


#: Built without validation: validating would build the model's validator at import time.
_DEFAULT_BEHAVIOR = OfflineBehavior.model_construct()


def _parse(raw: Any, model: str, where: str) -> OfflineBehavior:
    if not raw:
        return _DEFAULT_BEHAVIOR
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"offline settings for {model!r} in {where} must be a mapping, not {type(raw).__name__}"
        )
    try:
        return OfflineBehavior.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(settings)'}: {err['msg']}"
            for err in exc.errors()
        )
        message = f"invalid offline settings for {model!r} in {where}: {problems}"
        raise ConfigError(message) from None


# -- deciding what happens ----------------------------------------------------------------------


def _request_key(call: ModelCall) -> int:
    """A 64-bit hash of the model and the conversation (not the request id)."""
    parts = [call.card.id]
    for message in call.request.messages:
        parts.append(f"{message.role}\x1f{message.text}\x1f{message.tool_call_id or ''}")
    digest = hashlib.blake2b("\x1e".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _failure(
    behavior: OfflineBehavior, call: ModelCall, key: int, *, streaming: bool
) -> FailureKind | None:
    """The failure this call suffers, if any: a reproducible draw against ``fail_rate``."""
    kind = behavior.fail
    if kind is None and streaming and behavior.fail_after_chunks is not None:
        kind = "server_error"
    if kind is None or behavior.fail_rate <= 0.0:
        return None
    if behavior.fail_rate >= 1.0:
        return kind
    seed = f"{key}:{call.attempt}".encode()
    draw = int.from_bytes(hashlib.blake2b(seed, digest_size=8).digest(), "big") / 2.0**64
    return kind if draw < behavior.fail_rate else None


def _error(kind: FailureKind, call: ModelCall, behavior: OfflineBehavior) -> ProviderError:
    model = call.card.id
    if kind == "timeout":
        return ProviderTimeout(model=model, timeout_s=call.timeout_s)
    if kind == "rate_limit":
        return RateLimitedByProvider(
            "simulated rate limit", model=model, retry_after_s=behavior.retry_after_s
        )
    if kind == "server_error":
        return ProviderError("simulated server error", model=model, status_code=503, retryable=True)
    if kind == "bad_request":
        return ProviderError("simulated bad request", model=model, status_code=400)
    return ProviderError("simulated authentication failure", model=model, status_code=401)


# -- building the answer ------------------------------------------------------------------------


_Composer = Callable[[str, int], str]


def _answer(
    call: ModelCall, behavior: OfflineBehavior, key: int, compose: _Composer
) -> ModelResponse:
    request = call.request
    params = request.params
    prompt_tokens = estimate_request_tokens(request)
    if not (behavior.refuse or behavior.empty or behavior.reply is not None):
        tool_call = _tool_call(call, key)
        if tool_call is not None:
            function = tool_call.function
            completion = estimate_tokens(function.name) + estimate_tokens(function.arguments)
            usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion)
            return ModelResponse(
                text="", finish_reason="tool_calls", usage=usage, tool_calls=[tool_call]
            )
    text = tx.cut_at_stop(_text(request, behavior, key, compose), params.stop)
    finish: FinishReason = "stop"
    completion_tokens = estimate_tokens(text)
    if params.max_tokens is not None and completion_tokens > params.max_tokens:
        text = tx.truncate_to_tokens(text, params.max_tokens, estimate_tokens)
        finish, completion_tokens = "length", params.max_tokens
    usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    return ModelResponse(text=text, finish_reason=finish, usage=usage)


def _text(request: Request, behavior: OfflineBehavior, key: int, compose: _Composer) -> str:
    if behavior.refuse:
        return tx.REFUSAL
    if behavior.empty:
        return ""
    if behavior.reply is not None:
        return behavior.reply
    question = _question(request)
    fmt = request.params.response_format
    if fmt and fmt.get("type") in ("json_object", "json_schema"):
        return _json_answer(fmt, question, key, compose)
    results = _trailing_tool_results(request)
    if results:
        return tx.tool_result_answer(results)
    return compose(question, key)


def _question(request: Request) -> str:
    """What the answer responds to: the last user message, or the whole prompt without one."""
    for message in reversed(request.messages):
        if message.role == "user":
            return message.text
    return request.prompt_text


def _trailing_tool_results(request: Request) -> list[str]:
    results: list[str] = []
    for message in reversed(request.messages):
        if message.role != "tool":
            break
        results.append(message.text)
    results.reverse()
    return results


#: a key name quoted in a prompt: 'setup', "punchline", `id`
_QUOTED_KEY = re.compile(r"""['"`]([A-Za-z_][A-Za-z0-9_]{0,40})['"`]""")
#: a quoted phrase in any script: 'Paris', "你好啊集团", «…» not included
_QUOTED = re.compile(r"""(?:(?<=\s)|^)['"“‘「]([^'"”’」\n]{2,80})['"”’」](?=[\s.,;:!?)]|$)""")


def _json_answer(fmt: Mapping[str, Any], question: str, key: int, compose: _Composer) -> str:
    spec = fmt.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    if fmt.get("type") == "json_schema" and isinstance(schema, Mapping):
        source = js.ValueSource(tx.keywords(question), tx.numbers(question), phrase=question)
        value = js.instance_for(schema, source)
    else:
        # json_object mode: prompts usually name the keys they want ('setup', "punchline")
        keys = list(dict.fromkeys(_QUOTED_KEY.findall(question)))
        if keys:
            source = js.ValueSource(tx.keywords(question), tx.numbers(question), phrase=question)
            props = {k: {"type": "string"} for k in keys}
            value = js.instance_for(
                {"type": "object", "properties": props, "required": keys}, source
            )
        else:
            value = {"answer": compose(question, key)}
    return json.dumps(value, ensure_ascii=False)


def _tool_call(call: ModelCall, key: int) -> ToolCall | None:
    """The tool call the model makes, or ``None`` when it should answer in text."""
    request = call.request
    params = request.params
    tools = params.tools
    choice = params.tool_choice
    if not tools or choice == "none" or request.messages[-1].role == "tool":
        return None
    question = _question(request)
    words = tx.keywords(question, limit=32)
    tool = _chosen_tool(tools, choice, words, call.card.id)
    taken = js.tool_words(tool)
    # Argument values are the words the tool does not already say ("Paris", not "weather");
    # capitalised words first (names are the likeliest arguments), unless they only open the
    # sentence.
    free = [w for w in words if w.lower() not in taken]
    free.sort(key=lambda w: not (w[:1].isupper() and w is not words[0]))
    free = [*_QUOTED.findall(question), *free]  # quoted names are the likeliest arguments
    source = js.ValueSource(free, tx.numbers(question), phrase=question.strip())
    parameters = tool.function.parameters or {"type": "object", "properties": {}}
    arguments = js.instance_for(parameters, source)
    if not isinstance(arguments, dict):
        arguments = {}
    encoded = json.dumps(arguments, ensure_ascii=False)
    digest = hashlib.blake2b(f"{key}:{tool.function.name}".encode(), digest_size=12).hexdigest()
    function = FunctionCall(name=tool.function.name, arguments=encoded)
    return ToolCall(id=f"call_{digest}", function=function)


def _chosen_tool(tools: list[ToolSpec], choice: Any, words: list[str], model: str) -> ToolSpec:
    if isinstance(choice, Mapping):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else choice.get("name")
        for tool in tools:
            if tool.function.name == name:
                return tool
        raise ProviderError(
            f"tool_choice names {name!r}, which is not among the offered tools",
            model=model,
            status_code=400,
        )
    return js.pick_tool(tools, words)


# -- streaming ----------------------------------------------------------------------------------


def _deltas(response: ModelResponse) -> list[StreamDelta]:
    """The content deltas of ``response`` (text in word groups, tool calls OpenAI-style)."""
    deltas = [StreamDelta(text=piece) for piece in tx.chunk_text(response.text)]
    for index, tool_call in enumerate(response.tool_calls):
        function = tool_call.function
        head = ToolCallDelta(index=index, id=tool_call.id, name=function.name)
        deltas.append(StreamDelta(tool_calls=(head,)))
        arguments = function.arguments
        for start in range(0, len(arguments), _ARGUMENT_PIECE):
            piece = ToolCallDelta(index=index, arguments=arguments[start : start + _ARGUMENT_PIECE])
            deltas.append(StreamDelta(tool_calls=(piece,)))
    return deltas


def _delta_tokens(delta: StreamDelta) -> int:
    return estimate_tokens(delta.text + "".join(t.arguments for t in delta.tool_calls))


@hookimpl
def modelmuxer_register_backends(register: Callable[[Backend], None]) -> None:
    """Register the offline backend."""
    register(OfflineBackend())
