"""Budgets around the calls LiteLLM makes: reserve when ModelMuxer picks the deployment, settle
(or release) when LiteLLM reports the call.

In the core pipeline the :class:`~modelmuxer.budgets.BudgetGuard` wraps each model call; here
LiteLLM makes the call, so the reservation is taken in the deployment filter (after routing,
before LiteLLM sends the request) and finished from LiteLLM's success / failure events, matched
by request id in call order (a retry reserves again). When the Router call fails, what its
requests still hold is released: LiteLLM can drop a choice after the filter and fail without a
call to report. A call LiteLLM never reports otherwise (a process killed mid-call) is not lost for
good: its reservation's lease runs out and the store reclaims it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Final

from modelmuxer import Muxer
from modelmuxer.analysis import analyze
from modelmuxer.budgets import BudgetGuard, Reservation
from modelmuxer.context import RequestContext
from modelmuxer.strategies.estimates import worst_case_cost
from modelmuxer.types import CallRecord, ModelCard

__all__ = ["BudgetHolds", "guard_of"]

#: Requests whose reservations are remembered; older ones are left to their leases.
_REMEMBERED: Final = 4096


def guard_of(muxer: Muxer) -> BudgetGuard | None:
    """The muxer's budget guard: from its settings, or one registered as a plugin."""
    if muxer.budgets is not None:
        return muxer.budgets
    for plugin in muxer.plugins.get_plugins():
        if isinstance(plugin, BudgetGuard):
            return plugin
    return None


class BudgetHolds:
    """The open reservations of the calls LiteLLM is making, per request id."""

    def __init__(self) -> None:
        self._held: OrderedDict[str, deque[Reservation]] = OrderedDict()
        self._lock = threading.Lock()

    async def reserve(self, guard: BudgetGuard, ctx: RequestContext, card: ModelCard) -> None:
        """Reserve the worst case of ``card`` answering ``ctx``'s request.

        :raises ~modelmuxer.errors.BudgetExceeded: a budget cannot cover it (LiteLLM then
            returns the error to the caller; nothing was reserved).
        """
        features = ctx.features or analyze(ctx.request)
        worst = worst_case_cost(features, ctx.request, card)
        reservation = await guard.reserve(ctx.request.identity, card, worst)
        with self._lock:
            self._held.setdefault(ctx.request.request_id, deque()).append(reservation)
            self._held.move_to_end(ctx.request.request_id)
            while len(self._held) > _REMEMBERED:
                self._held.popitem(last=False)

    async def finish(self, guard: BudgetGuard, record: CallRecord) -> None:
        """Settle the oldest open reservation of ``record``'s request at its cost (a stream its
        reader stopped at the tokens it received; a failed call releases it); nothing when the
        request holds none."""
        with self._lock:
            queue = self._held.get(record.request_id)
            reservation = queue.popleft() if queue else None
            if queue is not None and not queue:
                del self._held[record.request_id]
        if reservation is None:
            return
        if record.outcome == "ok" or record.outcome == "cancelled":
            await guard.settle(reservation, record.cost_usd)
        else:
            await guard.release(reservation)

    async def release_all(self, guard: BudgetGuard, request_ids: Sequence[str]) -> None:
        """Release every reservation the requests ``request_ids`` still hold: LiteLLM gave up on
        them, and a call it did not report by then was never made (its routing reserved, then
        LiteLLM failed before sending it: a later filter dropped the choice, say)."""
        with self._lock:
            held = [r for i in request_ids for r in self._held.pop(i, ())]
        for reservation in held:
            await guard.release(reservation)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(queue) for queue in self._held.values())
