"""The one entry point: :class:`Muxer`."""

from __future__ import annotations

import importlib
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import aclosing
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from modelmuxer.cache import build_decision_cache, build_response_cache, replay
from modelmuxer.catalog import Catalog, ModelLike
from modelmuxer.context import RequestContext
from modelmuxer.errors import ConfigError, InvalidRequest, PluginError
from modelmuxer.health.checker import HealthChecker
from modelmuxer.pipeline import (
    Executor,
    MessagesLike,
    Router,
    StreamRunner,
    SyncBridge,
    build_request,
)
from modelmuxer.pipeline.defaults import StrategyDispatcher
from modelmuxer.plugins import BackendRegistry, StrategyRegistry, make_plugin_manager, notify
from modelmuxer.telemetry._telemetry import Telemetry
from modelmuxer.types import Completion, Decision, Identity, Request, RoutingOptions, StreamChunk

if TYPE_CHECKING:
    from modelmuxer.alerts import Alerts
    from modelmuxer.audit.log import AuditLog
    from modelmuxer.budgets import BudgetGuard
    from modelmuxer.config import MuxerSettings
    from modelmuxer.health import HealthReport
    from modelmuxer.ledger.ledger import CostLedger
    from modelmuxer.limits import RateLimiter
    from modelmuxer.policies.engine import PolicyEngine
    from modelmuxer.privacy import PrivacyGuard, Redactor, StreamRestorer
    from modelmuxer.reliability import BreakerRegistry

__all__ = ["Muxer"]


class Muxer:
    """Routes each request to the model that should answer it, and calls that model.

    Build it from a list of models and a strategy, or from settings::

        muxer = Muxer(["openai/gpt-4o-mini", "openai/gpt-4o"], strategy="hybrid")
        completion = await muxer.acomplete("What is the capital of France?")
        decision = muxer.route("Prove that there are infinitely many primes.")

    ``models`` are litellm-style ids (``openai/gpt-4o-mini``), :class:`~modelmuxer.ModelSpec`
    overrides, dicts, or ready :class:`~modelmuxer.types.ModelCard` objects. ``models`` and
    ``strategy`` given here win over ``settings``. Each muxer has its own plugin manager
    (``muxer.plugins``); ``plugins`` are registered on it after the built-ins and entry points.
    """

    def __init__(
        self,
        models: Sequence[ModelLike] | None = None,
        strategy: str | None = None,
        *,
        settings: MuxerSettings | None = None,
        plugins: Iterable[object] = (),
        load_entrypoints: bool | None = None,
    ) -> None:
        if settings is None:
            from modelmuxer.config import load_settings  # pydantic-settings costs ~0.1 s to import

            settings = load_settings()  # a bad MODELMUXER_* variable is a ConfigError
        self.settings = settings
        extra_plugins = [
            *_router_plugins(settings.router),
            *(_import_plugin(p) for p in settings.plugins),
            *plugins,
        ]
        autoload = settings.load_entrypoints if load_entrypoints is None else load_entrypoints
        self.plugins: pluggy.PluginManager = make_plugin_manager(
            extra_plugins, load_entrypoints=autoload
        )
        self.strategies = StrategyRegistry(self.plugins)
        self.backends = BackendRegistry(self.plugins)
        self.plugins.register(StrategyDispatcher(self.strategies), name="modelmuxer.dispatch")
        self.default_strategy = strategy or settings.strategy
        self.strategies.get(self.default_strategy)  # fail early on an unknown strategy
        specs: Sequence[ModelLike] = models if models is not None else settings.models
        self.catalog = Catalog.build(specs, self._price_alias)
        estimator = self.plugins.hook.modelmuxer_quality_estimator()
        decisions = build_decision_cache(self.plugins, settings.cache)
        self._router = Router(
            self.plugins,
            self.catalog,
            estimator,
            settings.strategy_settings(),
            self.strategies,
            decisions,
        )
        #: encrypts what rests in Redis and on disk (``settings.encryption``); ``None`` when off
        self.encryptor = settings.encryption.build()
        #: the response cache (``settings.cache``; inert unless ``cache.enabled``)
        self.cache = build_response_cache(
            self.plugins,
            settings.cache,
            candidates=self.catalog.ids(),
            router=self._router,
            tls=settings.tls.redis,
            encryptor=self.encryptor,
        )
        #: per-model circuit breakers (``settings.reliability.breaker``); ``None`` when off. The
        #: registry registers its candidate filter itself, only while a breaker is not closed.
        self.breakers: BreakerRegistry | None = None
        if settings.reliability.breaker.enabled:
            from modelmuxer.reliability import BreakerRegistry

            self.breakers = BreakerRegistry(
                self.plugins, settings.reliability.breaker, stats_window_s=settings.health.window_s
            )
        self._executor = Executor(
            self.plugins,
            self.catalog,
            self.backends,
            settings.timeout_s,
            settings.reliability,
            self.breakers,
        )
        self._streamer = StreamRunner(self.plugins, self._executor)
        self._sync = SyncBridge()
        #: the budget guard (``settings.budgets``), registered as a plugin; ``None`` when off
        self.budgets: BudgetGuard | None = None
        if settings.budgets.active:
            from modelmuxer.budgets import BudgetGuard

            self.budgets = BudgetGuard.from_settings(
                settings.budgets, settings, events=self.plugins
            )
            self.plugins.register(self.budgets, name="modelmuxer.budgets")
        #: the cost ledger (``settings.ledger``), registered as a plugin; ``None`` when disabled
        self.ledger: CostLedger | None = None
        if settings.ledger.enabled:
            from modelmuxer.ledger.ledger import CostLedger  # SQLAlchemy: only when used

            self.ledger = CostLedger(
                settings.ledger,
                catalog=self.catalog,
                tls=settings.tls.postgres,
                encryptor=self.encryptor,
            )
            self.plugins.register(self.ledger, name="modelmuxer.ledger")
            if self.ledger.prompt_capture is not None:
                self.plugins.register(self.ledger.prompt_capture, name="modelmuxer.ledger.prompts")
        #: PII redaction (``settings.privacy``); ``None`` when off. Its built-in detectors are
        #: registered as the plugin ``modelmuxer.privacy.detectors``.
        self.privacy: PrivacyGuard | None = None
        if settings.privacy.active:
            from modelmuxer.privacy import PrivacyGuard

            self.privacy = PrivacyGuard(self.plugins, settings.privacy)
        #: the access policies (``settings.policies``), registered as a plugin; ``None`` when off
        self.policies: PolicyEngine | None = None
        if settings.policies.active:
            from modelmuxer.policies.engine import PolicyEngine

            self.policies = PolicyEngine(settings.policies, self.plugins, cards=self.catalog)
            self.plugins.register(self.policies, name="modelmuxer.policies")
        #: the audit log (``settings.audit``), registered as a plugin; ``None`` when disabled
        self.audit: AuditLog | None = None
        if settings.audit.enabled:
            from modelmuxer.audit.log import AuditLog  # SQLAlchemy: only when used

            self.audit = AuditLog(
                settings.audit,
                url=settings.ledger.resolved_url(),
                tls=settings.tls.postgres,
                encryptor=self.encryptor,
            )
            self.plugins.register(self.audit, name="modelmuxer.audit")
        #: the rate limiter (``settings.limits``), registered as a plugin; ``None`` when off
        self.limits: RateLimiter | None = None
        if settings.limits.active:
            from modelmuxer.limits import RateLimiter

            self.limits = RateLimiter.from_settings(
                settings.limits, events=self.plugins, tls=settings.tls.redis
            )
            self.plugins.register(self.limits, name="modelmuxer.limits")
        #: budget threshold and spend spike events (``settings.alerts``), registered as a
        #: plugin; ``None`` when off
        self.alerts: Alerts | None = None
        if settings.alerts.active(self.budgets is not None):
            from modelmuxer.alerts import Alerts

            self.alerts = Alerts(
                settings.alerts,
                self.plugins,
                budgets=self.budgets,
                **_alert_claims(settings),
            )
            self.plugins.register(self.alerts, name="modelmuxer.alerts")
        self._health = HealthChecker(self)
        #: metrics, spans and structured logs (``settings.telemetry``): each off unless set, or
        #: switched on later (``muxer.telemetry.enable_metrics()``...)
        self.telemetry = Telemetry(
            self.plugins,
            settings.telemetry,
            catalog=self.catalog,
            budgets=self.budgets,
            ops=self._health,
        )

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: MuxerSettings, *, plugins: Iterable[object] = ()) -> Muxer:
        """A muxer configured entirely by ``settings``."""
        return cls(settings=settings, plugins=plugins)

    @classmethod
    def from_env(cls, *, plugins: Iterable[object] = ()) -> Muxer:
        """A muxer configured by ``MODELMUXER_*`` environment variables."""
        from modelmuxer.config import load_settings

        return cls(settings=load_settings(), plugins=plugins)

    @classmethod
    def from_config(cls, path: str | Path, *, plugins: Iterable[object] = ()) -> Muxer:
        """A muxer configured by a TOML or JSON file (environment variables fill the gaps)."""
        from modelmuxer.config import load_settings

        return cls(settings=load_settings(path), plugins=plugins)

    def _price_alias(self, model_id: str, backend: str | None) -> str:
        return self.backends.for_model(model_id, backend).price_alias(model_id)

    # -- routing --------------------------------------------------------------------------------

    def request(self, messages: MessagesLike | Request, **kwargs: Any) -> Request:
        """Build and validate a :class:`Request` as the call methods do (see :meth:`acomplete`)."""
        return _build(messages, kwargs)

    def route(self, messages: MessagesLike | Request, **kwargs: Any) -> Decision:
        """The :class:`Decision` for a request, without calling any model.

        With PII redaction on, the request is redacted as a call would redact it (so this is
        the decision a call makes) and ``ctx.state["pii_counts"]`` is set for policies.
        """
        ctx = self._start(_build(messages, kwargs), stream=False)
        self._admit(ctx)
        if self.privacy is not None:
            self.privacy.route(ctx)
        return self._router.route(ctx)

    async def aroute(self, messages: MessagesLike | Request, **kwargs: Any) -> Decision:
        """Async twin of :meth:`route` (routing itself never waits)."""
        return self.route(messages, **kwargs)

    # -- calls ----------------------------------------------------------------------------------

    async def acomplete(self, messages: MessagesLike | Request, **kwargs: Any) -> Completion:
        """Route the request, call the chosen model(s) and return the answer.

        ``messages``: a prompt string, a message (dict or :class:`~modelmuxer.types.Message`), a
        list of them, or a :class:`Request`. Keyword arguments: ``strategy``, ``model`` (pin a
        candidate), ``identity`` (``{"user", "org", "project", "role"}``), ``tags``,
        ``metadata``, ``routing`` (:class:`~modelmuxer.types.RoutingOptions`), ``request_id``,
        and generation parameters (``temperature``, ``max_tokens``, ``tools``, ``tool_choice``,
        ``response_format``, ``stop``, ``seed``, ``top_p``, ``timeout_s``).
        """
        ctx = self._start(_build(messages, kwargs), stream=False)
        redactor: Redactor | None = None
        try:
            self._admit(ctx)
            if self.privacy is not None:  # from here on, everything sees placeholders
                redactor = self.privacy.redact(ctx)
            completion = await self.cache.lookup(ctx)
            if completion is None:
                completion = await self._executor.run(ctx, self._router.route(ctx))
                completion = await self.cache.store(ctx, completion)
        except BaseException as exc:
            self._end(ctx, None, exc)
            raise
        self._end(ctx, completion, None)  # plugins see the answer as the model wrote it
        if redactor is not None:
            return redactor.restore_completion(completion)
        return completion

    async def astream(
        self, messages: MessagesLike | Request, **kwargs: Any
    ) -> AsyncIterator[StreamChunk]:
        """Stream the answer: content chunks, then one chunk carrying the whole ``completion``.

        Takes the same arguments as :meth:`acomplete`. The model is chosen before the first
        token. Usage and cost are recorded when the stream ends, also when the consumer stops
        early (then from the tokens received so far).
        """
        ctx = self._start(_build(messages, kwargs), stream=True)
        completion: Completion | None = None
        restorer: StreamRestorer | None = None
        try:
            self._admit(ctx)
            if self.privacy is not None:  # from here on, everything sees placeholders
                restorer = self.privacy.redact_stream(ctx)
            completion = await self.cache.lookup(ctx)
            chunks = replay(completion) if completion is not None else None
            for chunk in chunks or ():
                if restorer is None:
                    yield chunk
                else:
                    for piece in restorer.feed(chunk):
                        yield piece
            if chunks is None:
                decision = self._router.route(ctx)
                # Close the inner stream here, not at garbage collection, so an early stop is
                # recorded before aclose() returns.
                async with aclosing(self._streamer.run(ctx, decision)) as stream:
                    async for chunk in stream:
                        if chunk.completion is not None:
                            chunk = await self.cache.stored_chunk(ctx, chunk)
                            completion = chunk.completion
                        if restorer is None:
                            yield chunk
                        else:  # a placeholder split across chunks is held back until whole
                            for piece in restorer.feed(chunk):
                                yield piece
        except BaseException as exc:
            self._end(ctx, None, exc)
            raise
        self._end(ctx, completion, None)

    def complete(self, messages: MessagesLike | Request, **kwargs: Any) -> Completion:
        """Sync twin of :meth:`acomplete`."""
        return self._sync.run(self.acomplete(messages, **kwargs))

    def stream(self, messages: MessagesLike | Request, **kwargs: Any) -> Iterator[StreamChunk]:
        """Sync twin of :meth:`astream`."""
        return self._sync.iterate(self.astream(messages, **kwargs))

    # -- health -------------------------------------------------------------------------------

    def health(self) -> HealthReport:
        """The health of this muxer and of what it depends on, for a readiness probe.

        Each model's circuit breaker and recent error rate, each Redis server and database in
        use (reachable, latency), the ledger's outbox backlog and each budget's headroom, with an
        overall ``status`` (``ok`` / ``degraded`` / ``down``) and the reasons. The probes run
        at once, each given ``settings.health.probe_timeout_s``; this never raises (a probe
        that fails is an entry of the report). ``report.to_dict()`` is its JSON.
        """
        return self._health.check()

    async def ahealth(self) -> HealthReport:
        """Async twin of :meth:`health` (the probes run on a loop of their own)."""
        return await self._health.acheck()

    def close(self) -> None:
        """Flush the ledger, close the cache's and budgets' connections, and release the
        background loop of the sync methods (idempotent).

        Sync calls other threads are making meanwhile are waited for first (up to
        ``settings.timeout_s``), so their costs are settled and recorded before the ledger
        flushes; those still running then are cancelled and raise ``RuntimeError``.

        Connections live on the loop that opened them: the sync methods' loop, closed here. A
        muxer used from async code should be closed with :meth:`aclose` on that code's loop.
        """
        if self._sync.running:
            self._sync.run(self._drain_and_release())
        elif self.ledger is not None:
            self.ledger.close()
        if self.audit is not None:
            self.audit.close()  # a no-op when _release closed it
        if self.limits is not None:
            self.limits.close()  # a blocking client: closes from any thread (again: a no-op)
        self._close_ops()
        self._sync.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`: the ledger flushes without blocking the event loop."""
        await self._release()
        self._close_ops()
        self._sync.close()

    def _close_ops(self) -> None:
        """Stop the alerts' claims, the health probes' loop and the telemetry."""
        if self.alerts is not None:
            self.alerts.close()
        self._health.close()
        self.telemetry.close()

    async def _drain_and_release(self) -> None:
        """On the sync methods' loop: let the calls in flight there end, then release."""
        await self._sync.drain(self.settings.timeout_s)
        await self._release()

    async def _release(self) -> None:
        if self.ledger is not None:
            await self.ledger.aclose()
        if self.audit is not None:
            await self.audit.aclose()
        if self.budgets is not None:
            await self.budgets.aclose()
        if self.limits is not None:
            await self.limits.aclose()
        await self.cache.aclose()

    def __enter__(self) -> Muxer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Muxer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- internals ------------------------------------------------------------------------------

    def _start(self, request: Request, *, stream: bool) -> RequestContext:
        strategy = request.routing.strategy or self.default_strategy
        if strategy not in self.strategies:
            self.strategies.get(strategy)  # raises UnknownStrategy listing the known ones
        if request.routing.model is not None and request.routing.model not in self.catalog:
            self.catalog.get(request.routing.model)  # raises UnknownModel listing the candidates
        return RequestContext(
            request=request,
            strategy=strategy,
            stream=stream,
            started_at=datetime.now(UTC),
            started_perf=time.perf_counter(),
        )

    def _end(
        self, ctx: RequestContext, completion: Completion | None, error: BaseException | None
    ) -> None:
        notify(
            self.plugins.hook.modelmuxer_request_end, ctx=ctx, completion=completion, error=error
        )

    def _admit(self, ctx: RequestContext) -> None:
        """Run ``modelmuxer_request_start``; callers do it inside their ``try`` so that
        ``modelmuxer_request_end`` also sees a rejection."""
        if self.plugins.hook.modelmuxer_request_start.get_hookimpls():
            before = ctx.request
            self.plugins.hook.modelmuxer_request_start(ctx=ctx)
            request = ctx.request
            if not isinstance(request, Request):
                raise PluginError("modelmuxer_request_start set ctx.request to a non-Request")
            if request is not before:
                # a rewrite may change the strategy or the pinned model: check them again
                strategy = request.routing.strategy or self.default_strategy
                self.strategies.get(strategy)
                if request.routing.model is not None:
                    self.catalog.get(request.routing.model)
                ctx.strategy = strategy

    def __repr__(self) -> str:
        return f"Muxer(models={self.catalog.ids()!r}, strategy={self.default_strategy!r})"


_CALL_KEYS = frozenset(
    {"strategy", "model", "identity", "tags", "metadata", "routing", "request_id"}
)


def _build(messages: MessagesLike | Request, kwargs: Mapping[str, Any]) -> Request:
    if not kwargs and type(messages) is Request:
        return messages  # a ready request with nothing to override (what adapters pass)
    call = {k: v for k, v in kwargs.items() if k in _CALL_KEYS}
    params = {k: v for k, v in kwargs.items() if k not in _CALL_KEYS}
    identity = call.get("identity")
    if identity is not None and not isinstance(identity, Identity | Mapping):
        raise InvalidRequest("expected an Identity or a mapping", field="identity")
    routing = call.get("routing")
    if routing is not None and not isinstance(routing, RoutingOptions | Mapping):
        raise InvalidRequest("expected RoutingOptions or a mapping", field="routing")
    return build_request(messages, params=params, **call)


def _alert_claims(settings: MuxerSettings) -> dict[str, Any]:
    """Where threshold alerts are claimed once across processes: the budgets' Redis, when the
    budgets are kept there (``alerts.dedupe = "auto"``); else nowhere (once per process)."""
    if settings.alerts.dedupe != "auto" or settings.budgets.backend_kind != "redis":
        return {}
    from modelmuxer.transport import redis_connection_kwargs

    url = settings.budgets.backend.get_secret_value()
    return {
        "redis_url": url,
        "redis_options": redis_connection_kwargs(
            url, settings.tls.redis, setting="budgets.backend"
        ),
        "namespace": f"{settings.budgets.namespace}:alerts",
    }


def _router_plugins(source: str | None) -> list[object]:
    """The learned router's plugin when the settings name a router file (numpy loads only then).

    Registered before other plugins, so a plugin's own estimator or judge answers first.
    """
    if source is None:
        return []
    from modelmuxer.learning.plugin import LearnedRouterPlugin

    return [LearnedRouterPlugin.load(source)]


def _import_plugin(path: str) -> object:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr) if attr else module
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import plugin {path!r}: {exc}") from exc
