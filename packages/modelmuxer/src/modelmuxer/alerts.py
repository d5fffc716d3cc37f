"""Alerts: budget thresholds and spend spikes, raised as events a plugin can send anywhere.

:class:`Alerts` listens to ``modelmuxer_record`` and emits, through ``modelmuxer_event``:

- ``budget.threshold`` when a budget's spending crosses one of ``budget_thresholds`` (50 %, 80 %,
  100 % of its limit by default), once per budget, subject, window and threshold. Spending is
  read from the budget guard's last-seen usage after each call settles (no extra I/O), so it
  includes what other processes spent up to this process's latest reservation or settlement.
- ``spend.spike`` when the spend of the current ``spike_window_s`` exceeds ``spike_factor``
  times the average of the ``spike_baseline_windows`` windows before it (and at least
  ``spike_min_usd``), once per window.

The metrics plugin counts both (``modelmuxer_budget_threshold_events_total``,
``modelmuxer_spend_spike_events_total``); ``docs/prometheus-alerts.yml`` alerts on them.

Several processes: each process decides from what it sees. With budgets on Redis (and
``dedupe = "auto"``) a threshold event is claimed with ``SET NX`` in that Redis first, so it
fires once across every process; otherwise each process may fire it once. Spend spikes are
per process (each sees its share of the traffic); the fleet-wide view is the Prometheus rule.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import pluggy
from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelmuxer.events import emit
from modelmuxer.hookspecs import hookimpl

if TYPE_CHECKING:
    from redis import Redis

    from modelmuxer.budgets import BudgetGuard, BudgetState
    from modelmuxer.types import CallRecord

__all__ = ["AlertSettings", "Alerts"]

_log = logging.getLogger("modelmuxer.alerts")
#: threshold keys remembered before the ones of ended windows are forgotten
_MAX_FIRED = 4096
_HIT = frozenset({"exact", "semantic"})


class AlertSettings(BaseModel):
    """The ``alerts`` section of :class:`~modelmuxer.config.MuxerSettings`.

    On by default when budgets are configured (``enabled = None``); set ``enabled = true`` for
    spend spikes without budgets. Events reach the ``modelmuxer_event`` hook: write a plugin to
    send them to a pager, a chat or a queue, or alert on their metrics.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool | None = Field(
        default=None, description="raise alert events; default: on when budgets are configured"
    )
    budget_thresholds: tuple[float, ...] = Field(
        default=(0.5, 0.8, 1.0),
        description="fractions of a budget's limit whose crossing raises budget.threshold",
    )
    spike_window_s: float = Field(
        default=300.0, gt=0.0, description="spend spikes: the window whose spend is compared"
    )
    spike_baseline_windows: int = Field(
        default=12, ge=1, le=1000, description="spend spikes: windows averaged as the baseline"
    )
    spike_factor: float = Field(
        default=3.0, gt=1.0, description="spend spikes: how many times the baseline is a spike"
    )
    spike_min_usd: float = Field(
        default=1.0, ge=0.0, description="spend spikes: a window spending less never is one"
    )
    dedupe: Literal["auto", "process"] = Field(
        default="auto",
        description="auto: with budgets on Redis, a threshold event fires once across "
        "processes (SET NX there); process: each process fires it once",
    )

    @field_validator("budget_thresholds")
    @classmethod
    def _fractions(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.0 < t <= 10.0 for t in value):
            raise ValueError("each threshold is a fraction of the limit, in (0, 10]")
        return tuple(sorted(set(value)))

    def active(self, budgets: bool) -> bool:
        """Whether a muxer registers the plugin (``budgets``: whether it has a budget guard)."""
        return budgets if self.enabled is None else self.enabled


class Alerts:
    """Raises ``budget.threshold`` and ``spend.spike`` events; a pluggy plugin.

    A :class:`~modelmuxer.Muxer` registers it (``muxer.alerts``) when ``settings.alerts`` is
    active. ``budgets``: the guard whose budgets are watched (``None``: spikes only).
    ``redis_url``: where threshold events are claimed once across processes (``None``: each
    process fires once), ``redis_options`` the client's TLS options; claims run on a background
    thread, so then the events are emitted from there. ``clock``: seconds since the epoch
    (tests move it).
    """

    def __init__(
        self,
        settings: AlertSettings,
        pm: pluggy.PluginManager,
        *,
        budgets: BudgetGuard | None = None,
        redis_url: str | None = None,
        redis_options: Mapping[str, Any] | None = None,
        namespace: str = "modelmuxer:alerts",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._pm = pm
        self._guard = budgets
        self._clock = clock
        self._lock = threading.Lock()
        self._fired: dict[tuple[str, str, str, float], float] = {}  # -> window end (epoch s)
        self._claims = (
            None if redis_url is None else _Claims(redis_url, namespace, redis_options or {})
        )
        window = settings.spike_window_s
        self._first_slot = int(clock() // window)
        self._slots: deque[list[float]] = deque()  # [slot number, spend], oldest first
        self._spiked_slot = -1

    # -- hooks --------------------------------------------------------------------------------

    @hookimpl
    def modelmuxer_record(self, record: CallRecord) -> None:
        """After each call: check the budgets it was charged to and the spend rate."""
        if record.cache in _HIT:
            return  # no model call: nothing was reserved or spent
        try:
            if self._guard is not None and self._guard.budgets:
                self._check_budgets(self._guard.last_seen(record.identity))
            self._check_spend(record.cost_usd)
        except Exception:  # a hook must not raise: the alert is lost, the request is not
            _log.exception("alerts: cannot check the call record of %s", record.request_id)

    # -- budget thresholds --------------------------------------------------------------------

    def _check_budgets(self, states: Sequence[BudgetState]) -> None:
        for state in states:
            limit = state.limit_usd
            if limit <= 0:
                continue  # a zero budget refuses everything: no share of it to cross
            used = float(state.spent_usd / limit)
            window_end = state.resets_at.timestamp() if state.resets_at else float("inf")
            for threshold in self.settings.budget_thresholds:
                if used < threshold:
                    break  # sorted: the rest are higher
                key = (state.budget.name, state.subject, _window(state.resets_at), threshold)
                with self._lock:
                    if key in self._fired:
                        continue
                    self._remember(key, window_end)
                data = _threshold_data(state, threshold)
                if self._claims is None:
                    emit(self._pm, "budget.threshold", None, **data)
                else:
                    self._claims.claim(key, state.resets_at, functools.partial(self._fire, data))

    def _fire(self, data: dict[str, Any]) -> None:
        emit(self._pm, "budget.threshold", None, **data)

    def _remember(self, key: tuple[str, str, str, float], window_end: float) -> None:
        """Keep ``key`` (the lock is held); forget the keys of ended windows when too many."""
        fired = self._fired
        fired[key] = window_end
        if len(fired) > _MAX_FIRED:
            now = self._clock()
            for old in [k for k, end in fired.items() if end < now]:
                del fired[old]
            while len(fired) > _MAX_FIRED:  # still too many: forget the oldest
                del fired[next(iter(fired))]

    # -- spend spikes -------------------------------------------------------------------------

    def _check_spend(self, cost: float) -> None:
        settings = self.settings
        slot = int(self._clock() // settings.spike_window_s)
        with self._lock:
            slots = self._slots
            if not slots or slots[-1][0] != slot:
                slots.append([slot, 0.0])
                while slots[0][0] < slot - settings.spike_baseline_windows:
                    slots.popleft()
            slots[-1][1] += cost
            spend = slots[-1][1]
            if (
                spend < settings.spike_min_usd
                or slot == self._spiked_slot
                or slot - self._first_slot < settings.spike_baseline_windows
            ):
                return  # too little, already told, or too little history for a baseline
            before = sum(s[1] for s in slots if s[0] < slot)
            baseline = before / settings.spike_baseline_windows
            if spend <= settings.spike_factor * baseline:
                return
            self._spiked_slot = slot
        emit(
            self._pm,
            "spend.spike",
            None,
            window_s=settings.spike_window_s,
            spend_usd=round(spend, 9),
            baseline_usd=round(baseline, 9),
            factor=settings.spike_factor,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def flush(self, timeout_s: float = 5.0) -> None:
        """Wait until the threshold claims sent so far have been answered (and emitted)."""
        if self._claims is not None:
            self._claims.flush(timeout_s)

    def close(self) -> None:
        """Finish the pending claims and close the Redis connection (idempotent)."""
        if self._claims is not None:
            self._claims.close()

    def __repr__(self) -> str:
        dedupe = "redis" if self._claims is not None else "process"
        return f"Alerts(thresholds={self.settings.budget_thresholds!r}, dedupe={dedupe!r})"


class _Claims:
    """Claims threshold events in Redis (``SET NX``) on a background thread: the process that
    sets the key fires the event. A claim that cannot reach Redis fires anyway (better twice
    than never)."""

    def __init__(
        self, url: str, namespace: str, options: Mapping[str, Any], timeout_s: float = 0.5
    ) -> None:
        self._url = url
        self._options = dict(options)
        self._prefix = f"{namespace}:threshold"
        self._timeout_s = timeout_s
        self._client: Redis | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(1, "modelmuxer-alerts")
        self._closed = False

    def claim(
        self, key: tuple[str, str, str, float], resets_at: datetime | None, fire: Callable[[], None]
    ) -> None:
        if self._closed:
            fire()
            return
        name = f"{self._prefix}:{key[0]}:{key[1]}:{key[2]}:{key[3]:g}"
        self._pool.submit(self._claim, name, resets_at, fire)

    def _claim(self, name: str, resets_at: datetime | None, fire: Callable[[], None]) -> None:
        try:
            client = self._redis()
            # kept a day past the window's end, so a late process still sees the claim
            expiry = {} if resets_at is None else {"exat": int(resets_at.timestamp()) + 86_400}
            won = bool(client.set(name, "1", nx=True, **expiry))  # type: ignore[arg-type]
        except Exception as exc:
            _log.warning("alerts: cannot claim %s in Redis (%s); firing it here", name, exc)
            won = True
        if won:
            try:
                fire()
            except Exception:
                _log.exception("alerts: a modelmuxer_event listener failed")

    def _redis(self) -> Redis:
        if self._client is None:
            from redis import Redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            self._client = Redis.from_url(
                self._url,
                socket_timeout=self._timeout_s,
                socket_connect_timeout=self._timeout_s,
                retry=Retry(NoBackoff(), 0),
                **self._options,
            )
        return self._client

    def flush(self, timeout_s: float) -> None:
        if not self._closed:
            self._pool.submit(lambda: None).result(timeout_s)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True)
        if self._client is not None:
            self._client.close()


def _window(resets_at: datetime | None) -> str:
    return "total" if resets_at is None else resets_at.isoformat()


def _threshold_data(state: BudgetState, threshold: float) -> dict[str, Any]:
    return {
        "budget": state.budget.name,
        "subject": state.subject,
        "threshold": threshold,
        "spent_usd": float(state.spent_usd),
        "limit_usd": float(state.limit_usd),
        "resets_at": None if state.resets_at is None else state.resets_at.isoformat(),
    }
