"""``avatar-mock serve``: prints its URL, serves, stops on SIGTERM; bad settings exit 2 without a traceback."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path


def test_serve_on_a_free_port_then_stop() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--no-media"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.removeprefix("listening on ")
        with urllib.request.urlopen(f"{url}/openapi.json", timeout=5) as response:
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_bad_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("concurrency_limit = -1\n")
    result = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "invalid settings" in result.stderr and "Traceback" not in result.stderr
