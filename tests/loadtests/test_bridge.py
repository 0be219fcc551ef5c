"""The gevent <-> asyncio bridge: results, timeouts, cancellation, many concurrent waits.

The checks run in a subprocess (``bridge_checks.py``) because locust monkey-patches the process it is
imported in; each test here asserts on one check's outcome.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CHECKS = Path(__file__).with_name("bridge_checks.py")


@pytest.fixture(scope="module")
def outcomes() -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, str(CHECKS)], capture_output=True, text=True, timeout=120, cwd=CHECKS.parents[2]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "name",
    [
        "result_and_exception",
        "timeout_cancels_task",
        "killed_greenlet_cancels_task",
        "many_concurrent_waits",
        "drain_waits_for_cleanup",
        "no_call_from_loop_thread",
        "resolves_names",
        "aiortc_decoder_threads_run",
        "httpx_readability_check_without_gevent",
        "close_cancels_waiters",
    ],
)
def test_bridge(outcomes: dict[str, str], name: str) -> None:
    assert outcomes.get(name) == "ok", outcomes.get(name, "check did not run")
