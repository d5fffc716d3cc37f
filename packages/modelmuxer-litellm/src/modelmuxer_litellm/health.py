"""ModelMuxer's health in the LiteLLM proxy: the report of the callback's muxer, to serve from a
route of the proxy (its readiness probe, a load balancer)::

    # modelmuxer_callback.py, the module the proxy's litellm_settings.callbacks names
    from fastapi.responses import JSONResponse
    from litellm.proxy.proxy_server import app

    from modelmuxer_litellm import ModelMuxerCallback
    from modelmuxer_litellm.health import ahealth

    modelmuxer = ModelMuxerCallback.for_proxy(config="modelmuxer.toml")

    @app.get("/modelmuxer/health", include_in_schema=False)
    async def modelmuxer_health() -> JSONResponse:
        report = await ahealth(modelmuxer)
        return JSONResponse(report.to_dict(), status_code=report.http_status)

Behind the router LiteLLM makes the calls and keeps its own deployment health (cooldowns): the
report's models show the muxer's breakers, and its Redis, databases, outbox and budgets are
those of the muxer's settings.
"""

from __future__ import annotations

from datetime import UTC, datetime

from modelmuxer.errors import ConfigError, ModelMuxerError
from modelmuxer.health import HealthReport
from modelmuxer_litellm.callback import ModelMuxerCallback

__all__ = ["ahealth", "find_callback", "health"]


def find_callback() -> ModelMuxerCallback:
    """The :class:`ModelMuxerCallback` registered with LiteLLM (the first of ``litellm.callbacks``).

    :raises ConfigError: none is registered.
    """
    import litellm

    for callback in litellm.callbacks:
        if isinstance(callback, ModelMuxerCallback):
            return callback
    raise ConfigError(
        "no ModelMuxerCallback in litellm.callbacks: list one under the proxy's "
        "litellm_settings.callbacks, or register() it on your router"
    )


def health(callback: ModelMuxerCallback | None = None) -> HealthReport:
    """The health of ``callback``'s muxer (default: :func:`find_callback`); never raises."""
    try:
        muxer = (callback or find_callback()).muxer  # built from the router on first use
    except ModelMuxerError as exc:
        return _unready(exc)
    return muxer.health()


async def ahealth(callback: ModelMuxerCallback | None = None) -> HealthReport:
    """Async twin of :func:`health`."""
    try:
        muxer = (callback or find_callback()).muxer
    except ModelMuxerError as exc:
        return _unready(exc)
    return await muxer.ahealth()


def _unready(exc: ModelMuxerError) -> HealthReport:
    """``down``: the muxer cannot be built yet (no callback, no router)."""
    return HealthReport(
        status="down",
        reasons=[f"ModelMuxer is not ready: {exc}"],
        checked_at=datetime.now(UTC),
        duration_ms=0.0,
        models=[],
        redis=[],
        databases=[],
        outbox=None,
        budgets=[],
    )
