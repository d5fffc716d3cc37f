"""Worker processes for the multi-process tests: run a test file as a script N times at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

__all__ = ["run_workers"]


def run_workers(script: str, args: list[str], count: int, timeout_s: float) -> list[dict[str, Any]]:
    """Start ``count`` processes of ``python script *args <i>`` at once (plugin autoload off) and
    return the JSON each prints on its last line; a worker that fails fails the test."""
    env = {**os.environ, "MODELMUXER_DISABLE_PLUGIN_AUTOLOAD": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, script, *args, str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(count)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout_s)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results
