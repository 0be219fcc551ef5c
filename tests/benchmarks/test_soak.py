"""The soak's CI smoke: a short churn of every session kind, after which every count is back at its baseline.

The full soak (10 minutes, plus the RSS slope per 1,000 sessions) is run by hand; see docs/reliability.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).parents[2] / "benchmarks" / "soak.py"


@pytest.mark.timeout(240)
def test_counts_return_to_baseline_after_a_short_churn() -> None:
    result = subprocess.run(
        [sys.executable, str(SOAK), "--seconds", "15", "--warmup", "0", "--workers", "3", "--counts-only"],
        capture_output=True,
        text=True,
        timeout=230,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "PASS"
    assert "errors during churn: none" in lines
    for count in ("sessions_live", "peer_connections", "session_timers", "asyncio_tasks", "open_fds", "threads"):
        assert any(line.startswith(count) and line.endswith("ok") for line in lines), count
