"""The ModelMuxer plugin contract.

Every hook is named ``modelmuxer_*``. Implement any of them on a class or module and register it
with ``Muxer(plugins=[...])``, ``muxer.plugins.register(obj)``, or the ``modelmuxer`` entry-point
group. Built-in strategies, backends and the default judge register through these same hooks.

Hooks run in the order pluggy gives: the most recently registered implementation first,
``tryfirst`` / ``trylast`` adjust it. Hooks are synchronous; the two model-call hooks return an
awaitable / async iterator so wrappers can wrap the asynchronous call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from modelmuxer.backends.base import Backend, ModelCall, ModelResponse, StreamDelta
    from modelmuxer.cache.embedders import Embedder
    from modelmuxer.context import RequestContext
    from modelmuxer.privacy.spans import PiiDetector
    from modelmuxer.strategies.base import RoutingTask, Strategy
    from modelmuxer.strategies.estimates import QualityEstimator
    from modelmuxer.types import CallRecord, Completion, Decision, ModelCard

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

PROJECT_NAME = "modelmuxer"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -- registration -------------------------------------------------------------------------------


@hookspec
def modelmuxer_register_strategies(register: Callable[[Strategy], None]) -> None:
    """Register routing strategies.

    Called once when a :class:`~modelmuxer.Muxer` is built.

    :param register: call ``register(strategy)`` for each strategy this plugin provides. A
        strategy is an object with ``name``, ``description`` and ``select(task) -> Decision``
        (see :class:`~modelmuxer.strategies.Strategy`). Registering a name twice is an error.
    """


@hookspec
def modelmuxer_register_backends(register: Callable[[Backend], None]) -> None:
    """Register backends (how models are called).

    Called once when a :class:`~modelmuxer.Muxer` is built.

    :param register: call ``register(backend)`` for each backend. A card whose ``backend`` field
        names a backend uses it; otherwise the first backend whose ``claims(model_id)`` is true
        (later registrations are asked first), and litellm when none claims the id.
    """


@hookspec
def modelmuxer_register_embedders(register: Callable[[Embedder], None]) -> None:
    """Register embedders for the semantic cache.

    Called when a :class:`~modelmuxer.Muxer` with the semantic cache on is built.

    :param register: call ``register(embedder)`` for each embedder. An embedder is an object with
        ``name`` and ``async aembed(texts) -> vectors`` (see
        :class:`~modelmuxer.cache.Embedder`); the setting ``cache.embedder`` names the one used.
        Registering a name twice is an error.
    """


@hookspec
def modelmuxer_register_pii_detectors(register: Callable[[PiiDetector], None]) -> None:
    """Register PII detectors for redaction.

    Called once when a :class:`~modelmuxer.Muxer` with ``privacy.redact`` on is built; the
    built-in detectors (emails, phones, cards, IBANs, SSNs, IP addresses, keys and secrets)
    register here too.

    :param register: call ``register(detector)`` for each detector. A detector is an object
        with ``name``, ``kinds`` (the kinds it reports, lower-case names such as ``"person"``)
        and ``detect(text) -> spans``, each span ``(start, end, kind)`` or
        ``(start, end, kind, score)`` (see :class:`~modelmuxer.privacy.PiiDetector`;
        :class:`~modelmuxer.privacy.PresidioDetector` wraps a Presidio analyzer). ``detect``
        must not keep, log or send the text. Registering a name twice is an error.
    """


@hookspec(firstresult=True)
def modelmuxer_quality_estimator() -> QualityEstimator | None:
    """Provide the estimator of P(good answer | request, model) that strategies use.

    Called once when a :class:`~modelmuxer.Muxer` is built. Stops at the first non-None result.

    :return: an object with ``quality(features, card) -> float``, or ``None`` to leave the
        choice to other plugins (the built-in estimator uses the cards' priors). An estimator
        that reads the request itself (its text) may also offer
        ``quality_batch(features, request, cards) -> Sequence[float]``: routing then asks it
        once per request for every candidate, in the order of ``cards``, instead of calling
        ``quality`` per card (the trained router does, so the prompt is read once).
    """


# -- the request pipeline -----------------------------------------------------------------------


@hookspec
def modelmuxer_request_start(ctx: RequestContext) -> None:
    """A request enters the pipeline, after validation and before routing.

    Validate, reject or rewrite it. To reject, raise
    :class:`~modelmuxer.errors.RequestRejected` (or any
    :class:`~modelmuxer.errors.ModelMuxerError`); to rewrite, assign a new request to
    ``ctx.request``.

    ``Muxer.route`` runs this hook too (a rewrite may change the decision), but calls no model and
    fires no ``modelmuxer_request_end``: do not reserve anything here that only the end releases.

    :param ctx: the request's context; ``ctx.request`` is immutable, replace it to rewrite.
    """


@hookspec
def modelmuxer_filter_candidates(
    ctx: RequestContext, candidates: Sequence[ModelCard]
) -> Mapping[str, str] | None:
    """Exclude candidates for this request (access policies, data rules, routing rules).

    Every implementation is called; their exclusions are merged. Excluded models appear in the
    decision and in :class:`~modelmuxer.errors.NoEligibleModel` with the reason given here.

    :param ctx: the request's context.
    :param candidates: the muxer's candidates that passed the built-in hard constraints.
    :return: a mapping ``{model_id: reason}`` of the models to exclude, or ``None``.
    """


@hookspec(firstresult=True)
def modelmuxer_select(ctx: RequestContext, task: RoutingTask) -> Decision | None:
    """Choose the model(s) for a request. Stops at the first non-None result.

    The built-in implementation (``trylast``) runs the strategy named by ``ctx.strategy``.
    Implement this hook to override routing for some requests (e.g. "code questions go to X");
    return ``None`` to leave the request to the strategy. Only models in ``task.candidates`` may
    be chosen; anything else is an error.

    :param ctx: the request's context.
    :param task: the request, its features and the eligible candidates with their estimates.
    :return: a :class:`~modelmuxer.types.Decision`, or ``None``.
    """


@hookspec(firstresult=True)
def modelmuxer_call_model(ctx: RequestContext, call: ModelCall) -> Awaitable[ModelResponse] | None:
    """Call a model (non-streamed). Stops at the first non-None result.

    The built-in implementation (``trylast``) returns ``call.backend.complete(call)``. Use a
    ``wrapper=True`` implementation to wrap the call: ``awaitable = yield`` gives the inner
    awaitable; return a new awaitable that awaits it (time it, retry it, log it). A wrapper that
    does nothing before its ``yield`` and returns ``self.wrap_call(ctx, call, awaitable)`` may
    offer that method: when it is the only wrapper, the pipeline calls ``wrap_call`` itself,
    without pluggy's per-call machinery (:func:`modelmuxer.plugins.direct_wrapper`; the
    attempt spans of tracing do this).

    :param ctx: the request's context.
    :param call: the model card, the request as the model sees it, the backend and the timeout.
    :return: an awaitable resolving to a :class:`~modelmuxer.backends.ModelResponse`.
    """


@hookspec(firstresult=True)
def modelmuxer_stream_model(
    ctx: RequestContext, call: ModelCall
) -> AsyncIterator[StreamDelta] | None:
    """Call a model, streamed. Stops at the first non-None result.

    The built-in implementation (``trylast``) returns ``call.backend.stream(call)``. Wrappers get
    the inner async iterator from ``yield`` and may return another that iterates it.

    :param ctx: the request's context.
    :param call: as for :func:`modelmuxer_call_model`, with ``call.stream`` true.
    :return: an async iterator of :class:`~modelmuxer.backends.StreamDelta`; the last carries usage.
    """


@hookspec(firstresult=True)
def modelmuxer_judge(ctx: RequestContext, call: ModelCall, response: ModelResponse) -> float | None:
    """Score an answer for the cascade. Stops at the first non-None result.

    The built-in judge (``trylast``) uses structural signals: an empty answer, a refusal, a
    truncated answer, malformed JSON when JSON was asked for, a malformed tool call.

    :param ctx: the request's context.
    :param call: the call that produced the answer.
    :param response: the answer.
    :return: a score in [0, 1]; the cascade accepts an answer whose score reaches the decision's
        ``threshold`` and escalates otherwise. ``None`` defers to the next judge.
    """


@hookspec
def modelmuxer_record(record: CallRecord) -> None:
    """A model call finished (successfully, escalated, failed or cancelled).

    Broadcast to every implementation: the ledger, metrics and user sinks listen here. Called
    once per model call, so a cascade of three calls produces three records sharing a
    ``request_id``. Implementations must be fast and must not raise; do slow work elsewhere.

    :param record: the call's record: identity, model, usage, cost, latency, outcome.
    """


@hookspec
def modelmuxer_request_end(
    ctx: RequestContext, completion: Completion | None, error: BaseException | None
) -> None:
    """A request left the pipeline, with its completion or the error it raised.

    Broadcast to every implementation; must not raise.

    :param ctx: the request's context.
    :param completion: the answer, or ``None`` when the request failed.
    :param error: the error, or ``None`` when it succeeded.
    """


@hookspec
def modelmuxer_event(name: str, ctx: RequestContext | None, data: Mapping[str, Any]) -> None:
    """Something operational happened: a retry, a fallback, a breaker opening, a rate-limit
    rejection, shared state unreachable...

    Broadcast to every implementation (metrics, alerts and logs listen here); must be fast and
    must not raise. :data:`modelmuxer.events.EVENT_NAMES` lists the names ModelMuxer emits and
    what ``data`` holds for each.

    :param name: the event's name, e.g. ``"breaker.opened"``.
    :param ctx: the request it happened in, or ``None`` outside a request.
    :param data: the event's details (never prompt text or secrets).
    """
