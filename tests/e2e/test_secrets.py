"""Secrets stay secret: after a full load run and a probe run with a known key, the key appears in none of
their outputs (console, run files, HTML reports, the run index), nor on the embedded mock's command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.loadtests.test_scenarios import finish, start

KEY = "sk-SECRET-do-not-leak-7f3a9c2e1b"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def leaked_in(paths: list[Path], *texts: str) -> list[str]:
    """Where the key (or any part of it long enough to identify it) shows up."""
    fragments = {KEY, KEY[3:], KEY[-16:]}
    places = [f"file {p}" for p in paths if p.is_file() and any(f in p.read_text(errors="replace") for f in fragments)]
    places += [f"output #{i}" for i, text in enumerate(texts) if any(f in text for f in fragments)]
    return places


def test_a_full_load_run_leaks_no_key(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs"
    run = finish(start(["--headless", "-u", "2", "-r", "2", "-t", "8s", "--tags", "speech"], run_dir, key=KEY))
    assert run.code == 0, run.explain()
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.name == "report.html" for p in files) and any(p.name == "samples.jsonl" for p in files)
    assert leaked_in(files, run.output) == []


def test_a_probe_run_leaks_no_key(tmp_path: Path) -> None:
    out = tmp_path / "probe.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "harness.probe", "--sentences", "1", "--out", str(out)],
        env={**os.environ, "HEYGEN_API_KEY": KEY},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert leaked_in([out], result.stdout, result.stderr) == []


def test_the_embedded_mock_gets_its_key_outside_argv(tmp_path: Path) -> None:
    """Any local user can list command lines; only the owner can read a process's environment."""
    from loadtests._target import EmbeddedMock

    mock = EmbeddedMock(KEY, None, tmp_path / "mock.log", media=False)
    try:
        mock.wait_ready(60)
        assert KEY not in " ".join(mock.process.args)  # type: ignore[arg-type]
        cmdline = Path(f"/proc/{mock.process.pid}/cmdline")
        if cmdline.exists():
            assert KEY not in cmdline.read_text(errors="replace")
    finally:
        mock.stop()
