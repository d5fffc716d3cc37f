"""The per-request context passed to hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelmuxer.analysis.features import QueryFeatures
from modelmuxer.types import CacheStatus, Request

__all__ = ["RequestContext"]


@dataclass(slots=True)
class RequestContext:
    """One request on its way through the pipeline.

    ``request`` may be replaced by ``modelmuxer_request_start`` implementations (rewrite it with
    ``ctx.request = ctx.request.model_copy(update=...)``). ``strategy`` is the name of the
    strategy that will route it. ``features`` are set once routing has analysed the request.
    ``cache`` is what the response cache did for it (``off`` when none is consulted); every
    call record of the request carries it. ``state`` is scratch space shared by plugins for this
    request.
    """

    request: Request
    strategy: str
    stream: bool
    started_at: datetime
    started_perf: float
    features: QueryFeatures | None = None
    cache: CacheStatus = "off"
    state: dict[str, Any] = field(default_factory=dict)
