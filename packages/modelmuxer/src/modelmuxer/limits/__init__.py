"""Rate limits on requests and tokens, per user, org, project, model or globally.

Each limit is a sliding window (``amount`` per ``window_s`` seconds). Requests are counted when
admitted, atomically over every limit of the request; tokens and model calls when each call's
record arrives. Counters live in memory (one process) or Redis (many processes; Lua scripts).
See ``docs/reliability.md``.
"""

from __future__ import annotations

from modelmuxer.limits.base import Ask, LimitStore, Meter, Refusal, WindowUsage
from modelmuxer.limits.guard import LimitLine, LimitState, RateLimiter
from modelmuxer.limits.memory import MemoryLimitStore
from modelmuxer.limits.settings import EACH, Limit, LimitKind, LimitScope, LimitSettings

__all__ = [
    "EACH",
    "Ask",
    "Limit",
    "LimitKind",
    "LimitLine",
    "LimitScope",
    "LimitSettings",
    "LimitState",
    "LimitStore",
    "MemoryLimitStore",
    "Meter",
    "RateLimiter",
    "Refusal",
    "WindowUsage",
]
