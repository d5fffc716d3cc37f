"""What machine and versions a benchmark ran on."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def calibration_ms() -> float:
    """Best of 5: one million iterations of an empty Python loop, in ms.

    This machine's speed drifts (shared cores): compare figures from different runs through
    this number, not directly.
    """
    import time

    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(1_000_000):
            pass
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def machine_info() -> dict[str, str]:
    versions = {}
    for dist in ("modelmuxer", "pydantic", "pluggy", "litellm"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "calibration (1M empty loop iterations, best of 5)": f"{calibration_ms():.1f} ms",
        **versions,
    }
