"""A scenario that crashes while it holds sessions still stops every one of them (the real-service promise:
nothing the tool opened is left running, whatever the scenario code does)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from loadtests._target import EmbeddedMock

KEY = "test-crash-key-000000"
LOCUST = [sys.executable, "-m", "locust", "-f"]
HEADLESS = ["--headless", "-u", "3", "-r", "3", "-t", "6s"]
CRASHING_LOCUSTFILE = '''
from locust import task

from loadtests._base import StreamingUser


class CrashingUser(StreamingUser):
    """Holds a session, then every task raises: a bug in a user's own scenario code."""

    scenario = "speech"

    def on_start(self):
        super().on_start()
        self.hold_session()

    @task
    def crash(self):
        raise RuntimeError("a bug in the scenario")
'''

pytestmark = pytest.mark.timeout(240)


def test_a_crashing_scenario_stops_every_session(tmp_path: Path) -> None:
    locustfile = tmp_path / "crashing.py"
    locustfile.write_text(CRASHING_LOCUSTFILE)
    mock = EmbeddedMock(KEY, 100, tmp_path / "mock.log", media_workers=1)
    try:
        url = mock.wait_ready(180)
        result = subprocess.run(
            [*LOCUST, str(locustfile), *HEADLESS, "--host", url, "--run-dir", str(tmp_path / "runs")],
            env={**os.environ, "HEYGEN_API_KEY": KEY, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            capture_output=True,
            text=True,
            timeout=180,
        )
        output = result.stdout + result.stderr
        assert "a bug in the scenario" in output, output[-3000:]
        admin = httpx.get(f"{url}/__admin/sessions", timeout=10).json()["data"]["sessions"]
        assert len(admin) >= 3, "the crashing users never held sessions"
        assert [s for s in admin if s["status"] != "closed"] == []
        assert {s["close_reason"] for s in admin} == {"stopped"}
    finally:
        mock.stop()
