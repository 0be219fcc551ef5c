"""The run-file writer (docs/run-format.md), the in-memory sink and its summaries."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from harness.metrics import MemorySink, RunWriter, SampleSink, Tee, summarize
from reports.runfile import load_run


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_run_file_has_run_samples_and_run_end(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "r1" / "samples.jsonl"
    writer = RunWriter(path, {"target": "mock", "host": "http://127.0.0.1:8080", "scenario": "speech", "users": 2})
    writer.record("speech.onset", 812.5, "ms", session="c0ffee", tier="low", codec="VP8", scenario="speech")
    writer.record("rest.streaming.new", 41.0, "ms", ok=False, error="10007")
    writer.record("media.bitrate", 498.2, "kbps", target=500, ts=1796026512.25)
    # Each line is on disk as soon as it is recorded.
    assert len(lines(path)) == 4
    writer.close(exit_code=3)
    run, onset, failed, bitrate, end = lines(path)
    assert run["kind"] == "run" and run["target"] == "mock" and run["users"] == 2 and run["cores"] >= 1
    assert run["run_id"] and run["started_at"] > 0 and run["versions"]["python"]
    assert onset == {
        "kind": "sample",
        "metric": "speech.onset",
        "value": 812.5,
        "unit": "ms",
        "ts": onset["ts"],
        "session": "c0ffee",
        "tier": "low",
        "codec": "VP8",
        "target": None,
        "ok": True,
        "error": None,
        "scenario": "speech",
        "network_profile": None,
    }
    assert (failed["ok"], failed["error"], failed["value"]) == (False, "10007", 41.0)
    assert (bitrate["target"], bitrate["ts"]) == (500, 1796026512.25)
    assert end["kind"] == "run_end" and end["exit_code"] == 3 and end["ended_at"] >= run["started_at"]
    writer.close()  # twice is fine
    with pytest.raises(ValueError, match="closed"):
        writer.record("x", 1, "ms")


def test_reports_read_what_the_writer_writes(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    with RunWriter(path, {"scenario": "probe"}) as writer:
        writer.record("session.create", 12.5, "ms", session="abc", tier="low", codec="H264")
        writer.record("speech.onset", None, "ms", ok=False, error="Timeout")
        writer.record("speech.duration_error", float("nan"), "ms")
    run = load_run(path)
    assert run.issue_count == 0 and run.info.scenario == "probe"
    assert [(s.metric, s.value, s.ok) for s in run.samples] == [
        ("session.create", 12.5, True),
        ("speech.onset", None, False),
        ("speech.duration_error", None, False),
    ]
    assert run.end is not None and run.end.exit_code == 0


def test_writer_is_thread_safe(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    writer = RunWriter(path)

    def work(n: int) -> None:
        for i in range(200):
            writer.record("rest.streaming.task", float(i), "ms", session=f"s{n}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    parsed = lines(path)
    assert len(parsed) == 1 + 8 * 200 + 1
    assert sum(1 for p in parsed if p["kind"] == "sample") == 1600


def test_appending_processes_each_add_a_run_line(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    for worker in range(2):
        with RunWriter(path, {"notes": f"worker {worker}"}) as writer:
            writer.record("sessions.live", 1, "count")
    assert [p["kind"] for p in lines(path)] == ["run", "sample", "run_end"] * 2


def test_memory_sink_and_summary() -> None:
    sink = MemorySink()
    assert isinstance(sink, SampleSink)
    for value in range(1, 101):
        sink.record("speech.onset", float(value), "ms")
    sink.record("speech.onset", None, "ms", ok=False, error="Timeout")
    sink.record("speech.duration_error", -40.0, "ms")
    sink.record("speech.duration_error", 10.0, "ms")
    assert sink.metrics() == ["speech.onset", "speech.duration_error"]
    assert len(sink.values("speech.onset")) == 100
    onset, error = sink.summary()
    assert (onset.count, onset.errors, onset.max) == (100, 1, 100.0)
    assert onset.p50 == pytest.approx(50, abs=0.1) and onset.p99 == pytest.approx(99, abs=0.1)
    assert error.p50 == pytest.approx(-40, abs=0.1) and error.max == 10.0
    assert summarize("none", []).count == 0


def test_tee_feeds_every_sink() -> None:
    a, b = MemorySink(), MemorySink()
    Tee(a, b).record("x", 1.0, "ms", session="s")
    assert a.samples[0].labels == b.samples[0].labels == {"session": "s"}
