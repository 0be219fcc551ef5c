"""Each scenario, headless for a few seconds as users run it, judged by its run file and locust's exit code.

Locust runs as a subprocess (it monkey-patches the process it runs in). Creation, speech and bandwidth share
one mock and run at the same time to keep the suite short; concurrency starts its own embedded mock (the
default path: no ``--host``); the distributed run is a master with two workers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadtests._target import LOAD_CONCURRENCY_LIMIT, EmbeddedMock

ROOT = Path(__file__).resolve().parents[2]
LOCUST = [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests")]
RUN_TIMEOUT_S = 120
SETUP = {"session.create", "session.start", "session.ice_connected", "session.first_frame", "session.stop"}
EXPECTED = {
    "creation": SETUP | {"session.first_audio", "sessions.live"},
    "speech": SETUP | {"speech.event", "speech.onset", "speech.duration_error", "interrupt.latency"},
    "bandwidth": SETUP | {"media.bitrate", "media.fps", "media.freezes", "media.packet_loss", "media.jitter"},
}
#: Metrics recorded only when sessions close, i.e. after a run has been told to stop.
AT_STOP = {"session.stop"}
MOCK_KEY = "test-loadtests-key"
TIER_KBPS = {"low": 500, "medium": 1000, "high": 2000}

pytestmark = pytest.mark.timeout(240)


@dataclass
class Run:
    """A finished locust run: exit code, output, and its run file's lines."""

    code: int
    output: str
    run_path: Path | None
    lines: list[dict[str, Any]] = field(default_factory=list)

    @property
    def samples(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["kind"] == "sample"]

    def metrics(self) -> set[str]:
        return {s["metric"] for s in self.samples}

    def errors(self) -> list[dict[str, Any]]:
        return [s for s in self.samples if not s["ok"]]

    def explain(self) -> str:
        return f"exit {self.code}\n{self.output[-4000:]}"


def start(args: list[str], run_dir: Path, key: str | None = None) -> subprocess.Popen[str]:
    """Locust with ``args``; ``key`` is the mock's (tests never hold a real one)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HEYGEN_API_KEY", None)
    if key is not None:
        env["HEYGEN_API_KEY"] = key
    return subprocess.Popen(
        [*LOCUST, *args, "--run-dir", str(run_dir)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = RUN_TIMEOUT_S) -> Run:
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"locust did not finish within {timeout}s:\n{output[-4000:]}")
    reports = re.findall(r"^report: (\S+)$", output, re.MULTILINE)
    run = Run(process.returncode, output, None)
    if reports:
        run.run_path = Path(reports[-1]).with_name("samples.jsonl")
        run.lines = [json.loads(line) for line in run.run_path.read_text().splitlines()]
    return run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def assert_clean(run: Run, expected: set[str], held: bool = True) -> None:
    """Exit 0, the report printed last, a complete run file with every expected metric and no error."""
    assert run.code == 0, run.explain()
    assert run.run_path is not None, f"no report path printed\n{run.explain()}"
    assert run.output.rstrip().splitlines()[-1].startswith("report: "), "the report path is not the last line"
    assert run.run_path.with_name("report.html").is_file()
    assert run.lines[0]["kind"] == "run" and run.lines[-1]["kind"] == "run_end"
    assert run.lines[-1]["exit_code"] == 0
    assert not expected - run.metrics(), f"missing metrics: {sorted(expected - run.metrics())}"
    assert not run.errors(), f"error samples: {run.errors()[:5]}"
    assert any(s["metric"] == "session.create" for s in run.samples), "no session was created"
    if held:  # the gauge (sampled every second) sees held sessions; short creation cycles it may miss
        assert max(s["value"] for s in run.samples if s["metric"] == "sessions.live") > 0


@pytest.fixture(scope="module")
def mock_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One mock for the scenarios that do not test the embedded one, without a session limit to hit."""
    mock = EmbeddedMock(MOCK_KEY, LOAD_CONCURRENCY_LIMIT, tmp_path_factory.mktemp("mock") / "mock.log", media_workers=1)
    try:
        yield mock.wait_ready(180)
    finally:
        mock.stop()


@pytest.fixture(scope="module")
def parallel_runs(mock_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Creation, speech, bandwidth and two refused runs, all at once.

    Creation ends by its run time. Speech and bandwidth are stopped with Ctrl-C (as a user would) as soon as
    their run file holds every metric they must produce, with ``-t`` as the bound: a few seconds on a quiet
    machine, longer when it is busy, instead of failing there. They hold sessions when Ctrl-C comes, so they
    also show that an interrupted run stops every session and still writes its report.
    """
    common = ["--headless", "--host", mock_url]
    args = {
        "creation": ["-t", "10s", "-u", "3", "-r", "3", "--tags", "creation"],
        "speech": [
            "-t", "60s", "-u", "3", "-r", "3", "--tags", "speech",
            "--sentences", "short", "--interrupt-every", "2", "--think-time", "0.2,0.5",
        ],
        "bandwidth": ["-t", "60s", "-u", "6", "-r", "6", "--tags", "bandwidth", "--media-window", "1.5"],
    }  # fmt: skip
    dirs = {name: tmp_path_factory.mktemp(name) for name in [*args, "refused", "no_key"]}
    runs = {name: start(common + extra, dirs[name], MOCK_KEY) for name, extra in args.items()}
    # Runs that must be refused before any request (no key in their environment).
    runs["refused"] = start(["--headless", "-t", "2s", "--host", "https://api.heygen.com"], dirs["refused"])
    runs["no_key"] = start(["--headless", "-t", "2s", "--heygen-real"], dirs["no_key"])
    stop_when_measured(
        {
            "speech": (runs["speech"], dirs["speech"], lambda s: measured(s, EXPECTED["speech"] - AT_STOP)),
            "bandwidth": (
                runs["bandwidth"],
                dirs["bandwidth"],
                lambda s: measured(s, EXPECTED["bandwidth"] - AT_STOP, 6),
            ),
        }
    )
    return {name: finish(process) for name, process in runs.items()}


def so_far(run_dir: Path) -> list[dict[str, Any]]:
    """The samples a running locust has written to the run file under ``run_dir`` so far."""
    found = []
    for path in run_dir.glob("*/samples.jsonl"):
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):  # a line being written
                found.append(json.loads(line))
    return [line for line in found if line.get("kind") == "sample"]


def measured(samples: list[dict[str, Any]], expected: set[str], combos: int = 1) -> bool:
    """Every expected metric is in, sessions were live, and ``combos`` tier x codec pairs sent media."""
    metrics = {s["metric"] for s in samples}
    live = any(s["metric"] == "sessions.live" and s["value"] for s in samples)
    pairs = {(s["tier"], s["codec"]) for s in samples if s["metric"] == "media.bitrate"}
    return expected <= metrics and live and len(pairs) >= combos


def stop_when_measured(
    waits: dict[str, tuple[subprocess.Popen[str], Path, Callable[[list[dict[str, Any]]], bool]]],
    timeout: float = RUN_TIMEOUT_S,
) -> None:
    """Ctrl-C each run once its condition holds on its run file (a run that ends by itself is left alone)."""
    pending = dict(waits)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for name, (process, run_dir, ready) in list(pending.items()):
            if process.poll() is not None:
                del pending[name]
            elif ready(so_far(run_dir)):
                process.send_signal(signal.SIGINT)
                del pending[name]
        time.sleep(0.3)


def test_creation(parallel_runs: dict[str, Run]) -> None:
    run = parallel_runs["creation"]
    assert_clean(run, EXPECTED["creation"], held=False)
    stops = [s for s in run.samples if s["metric"] == "session.stop"]
    assert len(stops) == len([s for s in run.samples if s["metric"] == "session.create"]), "a session was not stopped"


def test_speech(parallel_runs: dict[str, Run]) -> None:
    run = parallel_runs["speech"]
    assert_clean(run, EXPECTED["speech"])
    assert all(s["scenario"] == "speech" for s in run.samples if s["metric"].startswith("speech."))


def test_bandwidth(parallel_runs: dict[str, Run]) -> None:
    run = parallel_runs["bandwidth"]
    assert_clean(run, EXPECTED["bandwidth"])
    bitrate = [s for s in run.samples if s["metric"] == "media.bitrate"]
    assert {(s["tier"], s["codec"]) for s in bitrate} == {(t, c) for t in TIER_KBPS for c in ("VP8", "H264")}
    assert all(s["target"] == TIER_KBPS[s["tier"]] for s in bitrate)


def test_locust_statistics_see_the_samples(parallel_runs: dict[str, Run]) -> None:
    """Locust's own table (what the web UI, CSV and HTML show) has the named entries."""
    output = parallel_runs["speech"].output
    for name in ("session.create", "session.first_frame", "speech.onset", "speech.event"):
        assert re.search(rf"^\w+\s+{re.escape(name)}\s+\d+", output, re.MULTILINE), name


@pytest.mark.parametrize("name", ["speech", "bandwidth"])
def test_ctrl_c_stops_every_session(parallel_runs: dict[str, Run], mock_url: str, name: str) -> None:
    """Runs stopped with Ctrl-C while holding sessions: every session stopped, none left on the service."""
    run = parallel_runs[name]
    created = {s["session"] for s in run.samples if s["metric"] == "session.create" and s["ok"]}
    stopped = {s["session"] for s in run.samples if s["metric"] == "session.stop" and s["ok"]}
    assert created and created == stopped, run.explain()
    live = httpx.get(f"{mock_url}/v1/streaming.list", headers={"X-Api-Key": MOCK_KEY}).json()["data"]["sessions"]
    assert live == [], "sessions left open on the service"


def test_concurrency_finds_the_limit(tmp_path: Path) -> None:
    """The embedded mock keeps its default limit (3) for this scenario: the steps find it and say why."""
    args = ["--headless", "-t", "60s", "--tags", "concurrency", "--step-seconds", "3", "--media-window", "1"]
    run = finish(start(args, tmp_path))
    assert run.code == 0, run.explain()
    steps = [s for s in run.samples if s["metric"] == "concurrency.step"]
    assert [s["ok"] for s in steps] == [True, True, True, False], steps
    assert [s["value"] for s in steps] == [1, 2, 3, 4]
    assert steps[-1]["error"] == "10007"
    assert {s["error"] for s in run.errors()} == {"10007"}
    assert run.lines[-1]["exit_code"] == 0
    assert "held 3 sessions with every session at target; first failure at 4 sessions: 10007" in run.output


def test_distributed_all_scenarios(mock_url: str, tmp_path: Path) -> None:
    """Master and two workers, no tags (every scenario but concurrency): workers' samples reach the master.

    The master is stopped with Ctrl-C once both workers' samples of every scenario are in its run file, so the
    distributed end of a run (workers flush their last samples before the report) is what gets tested.
    """
    port = str(free_port())  # not locust's default 5557: another run on the machine may hold it
    args = ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--expect-workers", "2",
            "--headless", "-u", "6", "-r", "6", "-t", "60s",
            "--host", mock_url, "--sentences", "short", "--media-window", "1.5"]  # fmt: skip
    master = start(args, tmp_path, MOCK_KEY)
    workers = [start(["--worker", "--master-host", "127.0.0.1", "--master-port", port], tmp_path, MOCK_KEY)
               for _ in range(2)]  # fmt: skip

    def everywhere(samples: list[dict[str, Any]]) -> bool:
        seen = {(s.get("worker"), s["scenario"]) for s in samples if s["metric"] == "session.create"}
        return seen >= {(w, sc) for w in (0, 1) for sc in ("creation", "speech", "bandwidth")} and measured(
            samples, {"session.first_frame", "media.bitrate"}
        )

    stop_when_measured({"master": (master, tmp_path, everywhere)})
    run = finish(master)
    for worker in workers:
        worker_run = finish(worker, 30)
        assert worker_run.code == 0, worker_run.explain()
    assert_clean(run, {"session.create", "session.first_frame", "sessions.live", "media.bitrate"})
    assert {s["scenario"] for s in run.samples} >= {"creation", "speech", "bandwidth"}
    assert {s.get("worker") for s in run.samples if s["scenario"]} == {0, 1}
    assert sum(1 for line in run.lines if line["kind"] == "run") == 1
    created = {s["session"] for s in run.samples if s["metric"] == "session.create" and s["ok"]}
    stopped = {s["session"] for s in run.samples if s["metric"] == "session.stop" and s["ok"]}
    assert created == stopped, "a worker's session was not stopped, or its stop sample never reached the master"


def test_refuses_a_non_loopback_host(parallel_runs: dict[str, Run]) -> None:
    run = parallel_runs["refused"]
    assert run.code == 2, run.explain()
    assert "--heygen-real" in run.output
    assert run.run_path is None and "embedded mock" not in run.output, "a refused run must not start"


def test_real_service_needs_a_key(parallel_runs: dict[str, Run]) -> None:
    run = parallel_runs["no_key"]
    assert run.code == 2, run.explain()
    assert "HEYGEN_API_KEY" in run.output and run.run_path is None
