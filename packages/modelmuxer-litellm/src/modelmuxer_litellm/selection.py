"""Choosing among deployments with ModelMuxer's routing: hard constraints, policies, strategy.

Each distinct set of candidate deployments gets a core :class:`~modelmuxer.pipeline.Router`
over exactly those cards (sharing the muxer's plugin manager, strategies and quality
estimator), so a decision lists the deployments LiteLLM offered, and nothing else. The sets seen
in practice are few (a model group, minus what is cooling down), so the routers are cached.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from modelmuxer import Muxer
from modelmuxer.catalog import Catalog
from modelmuxer.context import RequestContext
from modelmuxer.errors import ConfigError
from modelmuxer.pipeline import Router
from modelmuxer.types import Decision, ModelCard
from modelmuxer_litellm.cards import DeploymentOverrides, deployment_card, generates_text, origin_id

__all__ = ["DeploymentSelector"]

_MAX_ROUTERS: Final = 256

#: Returns every deployment the selector may be asked about (a router's current model list).
DeploymentSource = Callable[[], Sequence[Mapping[str, Any]]]


class DeploymentSelector:
    """Builds and caches deployment cards, and routes a request among given deployments."""

    def __init__(
        self,
        muxer: Muxer,
        source: DeploymentSource,
        overrides: DeploymentOverrides | None = None,
    ) -> None:
        self.muxer = muxer
        self._source = source
        self._overrides = dict(overrides or {})
        self._estimator = muxer.plugins.hook.modelmuxer_quality_estimator()
        self._settings = muxer.settings.strategy_settings()
        self._cards: dict[str, ModelCard] = {}
        #: whether ModelMuxer routes a deployment (by id): False for one left to LiteLLM
        self._routes: dict[str, bool] = {}
        self._routers: dict[tuple[str, ...], Router] = {}  # in order of creation
        self._lock = threading.Lock()

    def card(self, deployment: Mapping[str, Any]) -> ModelCard:
        """The card of ``deployment`` (cached by the id of the deployment it stands for)."""
        ident = origin_id(deployment)
        card = self._cards.get(ident)
        if card is None:
            card = deployment_card(deployment, self._overrides)
            self._cards[ident] = card
        return card

    def routes(self, deployment: Mapping[str, Any]) -> bool:
        """Whether ModelMuxer routes the calls of ``deployment``'s group: a deployment that
        answers chat requests, or another (an embedding model) priced per token; not an image or
        audio model, left to LiteLLM's own routing (see
        :func:`~modelmuxer_litellm.cards.routed_cards`)."""
        ident = origin_id(deployment)
        found = self._routes.get(ident)
        if found is None:
            found = generates_text(deployment)
            if not found:
                try:
                    self.card(deployment)
                    found = True
                except ConfigError:
                    found = False
            self._routes[ident] = found
        return found

    def card_by_id(self, ident: str) -> ModelCard | None:
        """The card of the deployment with id ``ident``, looked up in the source when unseen;
        ``None`` when the source does not have it or it cannot be priced."""
        card = self._cards.get(ident)
        if card is not None or self._routes.get(ident) is False:
            return card
        for deployment in self._source():
            if origin_id(deployment) == ident:
                try:
                    return self.card(deployment)
                except ConfigError:
                    return None
        return None

    def refresh(self) -> None:
        """Forget cached cards and routers (after the router's deployments changed)."""
        with self._lock:
            self._cards.clear()
            self._routes.clear()
            self._routers.clear()

    def route(self, ctx: RequestContext, deployments: Iterable[Mapping[str, Any]]) -> Decision:
        """ModelMuxer's decision among ``deployments`` for ``ctx.request``; the chosen model is a
        deployment id (of the deployment a virtual copy stands for). Raises
        :class:`~modelmuxer.errors.NoEligibleModel` when none may answer."""
        listed = deployments if isinstance(deployments, list) else list(deployments)
        idents = [origin_id(deployment) for deployment in listed]
        key = tuple(sorted(set(idents)))
        router = self._routers.get(key)  # one dict read: safe without the lock
        if router is None:  # (its cards are cached with it: ``card_by_id`` finds the choice)
            cards = {i: self.card(d) for i, d in zip(idents, listed, strict=True)}
            router = self._router(key, cards)
        return router.route(ctx)

    def _router(self, key: tuple[str, ...], cards: Mapping[str, ModelCard]) -> Router:
        """A new router over the ``cards`` of ``key`` (the oldest goes past ``_MAX_ROUTERS``)."""
        muxer = self.muxer
        router = Router(
            muxer.plugins,
            Catalog(cards[ident] for ident in key),
            self._estimator,
            self._settings,
            muxer.strategies,
        )
        with self._lock:
            router = self._routers.setdefault(key, router)
            while len(self._routers) > _MAX_ROUTERS:
                del self._routers[next(iter(self._routers))]
        return router
