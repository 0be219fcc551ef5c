"""avatar-probe: a session against the mock with a timing table, the run file, and its safety rules."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.probe import main
from harness.pytest_plugin import HeygenTarget


def test_probe_against_the_mock(heygen_mock: HeygenTarget, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run.jsonl"
    code = main(["--base-url", heygen_mock.url, "-n", "2", "--text", "Quick probe sentence.", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    for expected in ("Speech", "Timings", "speech.onset", "session.first_frame", "media:"):
        assert expected in printed
    kinds = [json.loads(line)["kind"] for line in out.read_text().splitlines()]
    assert kinds[0] == "run" and kinds[-1] == "run_end" and kinds.count("sample") > 10
    run = json.loads(out.read_text().splitlines()[0])
    assert (run["target"], run["scenario"], run["users"]) == ("mock", "probe", 1)
    assert all(s["status"] == "closed" for s in heygen_mock.admin.sessions())


def test_probe_reports_a_service_error(heygen_mock: HeygenTarget, capsys: pytest.CaptureFixture[str]) -> None:
    heygen_mock.admin.fail("streaming.new", 10007)
    assert main(["--base-url", heygen_mock.url, "-n", "1", "--flow", "none"]) == 1
    assert "10007" in capsys.readouterr().out


def test_probe_refuses_a_real_service_without_real(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MY_KEY", "secret-value-123")
    assert main(["--base-url", "https://api.heygen.com", "--api-key-env", "MY_KEY"]) == 2
    assert "--real" in capsys.readouterr().out
    monkeypatch.delenv("MY_KEY")
    assert main(["--base-url", "https://api.heygen.com", "--real", "--api-key-env", "MY_KEY"]) == 2
    assert "MY_KEY" in capsys.readouterr().out
    assert main(["-n", "0"]) == 2


def test_ctrl_c_stops_the_session(heygen_mock: HeygenTarget, tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    probe = subprocess.Popen(
        [sys.executable, "-m", "harness.probe", "--base-url", heygen_mock.url, "-n", "20", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HEYGEN_API_KEY": "probe-test-key"},
    )
    try:
        deadline = time.monotonic() + 60
        while not any(s["status"] == "connected" for s in heygen_mock.admin.sessions()):
            assert probe.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        probe.send_signal(signal.SIGINT)
        output, _ = probe.communicate(timeout=60)
    finally:
        if probe.poll() is None:
            probe.kill()
    assert probe.returncode == 130, output
    assert "interrupted" in output
    (session,) = heygen_mock.admin.sessions()
    assert (session["status"], session["close_reason"]) == ("closed", "stopped")
    assert json.loads(out.read_text().splitlines()[-1]) == {
        "kind": "run_end",
        "ended_at": pytest.approx(time.time(), abs=120),
        "exit_code": 130,
    }
