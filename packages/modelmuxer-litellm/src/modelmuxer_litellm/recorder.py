"""LiteLLM's logging events as ModelMuxer call records: one per call, numbered per request."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Final

from modelmuxer.types import CallOutcome, CallRecord, ModelCard
from modelmuxer_litellm.cards import origin_id
from modelmuxer_litellm.identity import identity_from_request, tags_from_request
from modelmuxer_litellm.records import build_record, request_id_of, trace_id_of
from modelmuxer_litellm.routing_info import (
    RoutingInfo,
    RoutingMemo,
    client_disconnected,
    is_mapping,
    routed_metadata,
)

__all__ = ["CallRecorder"]

#: How many call ids (to report each call once) and request ids (to number attempts) to keep.
_REMEMBERED: Final = 4096


class CallRecorder:
    """Builds the :class:`~modelmuxer.types.CallRecord` of each call LiteLLM reports.

    ``owns(deployment_id)`` says whether a deployment is this router's (LiteLLM reports every
    call of the process to every callback); ``card_by_id`` prices a deployment;
    ``instance_id`` is the callback's: a call another callback routed (an earlier registration
    on the same router, reported after it was unregistered) is that one's, not recorded here.
    Thread-safe: LiteLLM reports sync calls from worker threads.
    """

    def __init__(
        self,
        owns: Callable[[str], bool],
        card_by_id: Callable[[str], ModelCard | None],
        instance_id: str = "",
    ) -> None:
        self._owns = owns
        self._instance_id = instance_id
        self._card_by_id = card_by_id
        self._lock = threading.Lock()
        self._attempts: OrderedDict[str, int] = OrderedDict()
        self._reported: OrderedDict[str, None] = OrderedDict()
        #: the decisions this process made (with their query features, not in the metadata)
        self.memo = RoutingMemo(_REMEMBERED)

    def record(
        self,
        kwargs: Mapping[str, Any],
        response: object,
        start_time: object,
        end_time: object,
        outcome: CallOutcome,
    ) -> CallRecord | None:
        """The call's record, or ``None`` for a call that is not this router's, was routed by
        another callback, or was already reported."""
        params = kwargs.get("litellm_params")
        model_info = params.get("model_info") if is_mapping(params) else None
        if not is_mapping(model_info) or not model_info.get("id"):
            return None  # not a Router call (a plain litellm.completion elsewhere in the process)
        deployment = origin_id({"model_info": model_info})
        if not self._owns(deployment):
            return None
        if outcome == "ok" and client_disconnected(kwargs):
            outcome = "cancelled"  # the proxy's report of what a departed client was sent
        info = _routing_info(kwargs, deployment, self.memo)
        if info.by and self._instance_id and info.by != self._instance_id:
            return None  # routed by another registration (one since unregistered): its call
        attempt = self._first_report(
            str(kwargs.get("litellm_call_id") or id(kwargs)), info.request_id
        )
        if attempt is None:
            return None
        return build_record(
            kwargs,
            response,
            start_time,
            end_time,
            card=self._card_by_id(deployment),
            info=info,
            attempt=attempt,
            outcome=outcome,
        )

    def _first_report(self, call_id: str, request_id: str) -> int | None:
        """The number of the call ``call_id`` among its request's calls, or ``None`` when it
        was reported already (LiteLLM may report a call both sync and async: record it once)."""
        with self._lock:
            if call_id in self._reported:
                return None
            self._reported[call_id] = None
            if len(self._reported) > _REMEMBERED:
                self._reported.popitem(last=False)
            attempts = self._attempts
            attempt = attempts.get(request_id, -1) + 1
            attempts[request_id] = attempt
            attempts.move_to_end(request_id)
            if len(attempts) > _REMEMBERED:
                attempts.popitem(last=False)
            return attempt


def _routing_info(kwargs: Mapping[str, Any], deployment: str, memo: RoutingMemo) -> RoutingInfo:
    """What ModelMuxer decided for the call's request, as it applies to ``deployment``."""
    metadata = routed_metadata(kwargs) or {}
    info = memo.lookup(metadata, trace_id_of(kwargs))
    if info is None:  # not routed by ModelMuxer (a sync call left to LiteLLM)
        return RoutingInfo(
            request_id=request_id_of(kwargs),
            group=str(metadata.get("model_group") or ""),
            deployment=deployment,
            strategy="litellm",
            reason=f"{deployment}: chosen by LiteLLM's own routing (not by ModelMuxer)",
            identity=identity_from_request(metadata, kwargs.get("user")),
            tags=tags_from_request(metadata),
        )
    if info.deployment == deployment:
        return info
    return replace(
        info,
        deployment=deployment,
        strategy="litellm",
        reason=f"{deployment}: sent by LiteLLM (retry or fallback); ModelMuxer had chosen "
        f"{info.deployment}: {info.reason}",
    )
