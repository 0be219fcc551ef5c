"""reports.runfile and reports.redact: loading, validation, merging, scrubbing secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.redact import REDACTED, redact, redact_text, redact_url
from reports.runfile import RunFileError, load_run
from tests.reports.synth import T0, run_line, sample, write_run


def test_loads_typed_samples(rich_run: Path) -> None:
    run = load_run(rich_run)
    assert run.has_run_line and run.info.run_id == "20261130-081500-ab12"
    assert run.info.target == "mock" and run.info.cores == 2 and run.info.mock["tier_profile"] == "seed"
    assert run.end is not None and run.end.exit_code == 0
    assert run.issue_count == 0 and not run.problems()
    onset = [s for s in run.samples if s.metric == "speech.onset"]
    assert onset and all(isinstance(s.value, float) for s in onset if s.ok)
    assert {None, "4g", "regular 3G"} == set(run.network_profiles)
    failed = [s for s in run.samples if not s.ok]
    assert failed and all(s.error for s in failed)


def test_garbage_lines_are_skipped_and_reported(garbage_run: Path) -> None:
    run = load_run(garbage_run)
    assert [s.value for s in run.samples] == [700.25, 900.5]
    assert run.issue_count == 9  # 3 not JSON, 1 array, no metric, bad value, no ts, NaN, bool
    assert run.unknown_kinds == {"heartbeat": 1}
    text = " ".join(run.problems())
    assert "Skipped 9 malformed line(s)" in text and "line 2: not valid JSON" in text
    assert "'heartbeat' x1" in text


def test_empty_file(empty_run: Path) -> None:
    run = load_run(empty_run)
    assert run.samples == [] and run.total_lines == 0
    assert run.problems() == ["The run file is empty."]
    assert run.t0 is None


@pytest.mark.parametrize("bad", ["missing.jsonl", "."])
def test_unreadable_raises(tmp_path: Path, bad: str) -> None:
    with pytest.raises(RunFileError):
        load_run(tmp_path / bad)


def test_ok_defaults_from_error_and_failed_without_code(tmp_path: Path) -> None:
    path = write_run(tmp_path / "r.jsonl", [
        {"kind": "sample", "metric": "a", "value": 1.0, "unit": "ms", "ts": T0},
        {"kind": "sample", "metric": "a", "value": None, "unit": "ms", "ts": T0, "error": "Timeout"},
        {"kind": "sample", "metric": "a", "value": None, "unit": "ms", "ts": T0, "ok": False},
    ])
    ok, timeout, unknown = load_run(path).samples
    assert ok.ok and not timeout.ok and timeout.error == "Timeout"
    assert not unknown.ok and unknown.error == "unknown"


def test_several_run_lines_merge(tmp_path: Path) -> None:
    first = run_line(started_at=T0 + 5, versions={"testkit": "0.1.0"}, mock={"latency_profile": "fast"})
    second = run_line(started_at=T0, versions={"locust": "2.47.0", "testkit": "9.9"}, users=None, notes="worker 2")
    path = write_run(tmp_path / "r.jsonl", [first, second, sample("x", 1, "ms", T0 + 1)])
    info = load_run(path).info
    assert info.processes == 2 and info.started_at == T0
    assert info.versions == {"testkit": "0.1.0", "locust": "2.47.0"}  # first line wins, others fill in
    assert info.notes == "worker 2"


def test_secrets_never_survive_loading(tmp_path: Path) -> None:
    line = run_line(
        host="https://user:hunter2@api.heygen.com/v1?api_key=sk_live_abcdef0123456789&region=eu",
        api_key="sk_live_abcdef0123456789", heygen_token="tok-123", extra={"client_secret": "s3cr3t"},
        notes="ran with HEYGEN_API_KEY=NmE3YWJjZDEyMzQ1Njc4OTBhYmNkZWYxMjM0NTY3ODkwMTIz",
    )
    line["mock"]["api_keys"] = ["k-1", "k-2"]
    path = write_run(tmp_path / "r.jsonl", [line, sample("x", 1, "ms", T0 + 1, ok=False,
                                                         error="401 Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig")])
    run = load_run(path)
    dumped = repr(run.info) + repr(run.samples)
    for secret in ("hunter2", "sk_live", "tok-123", "s3cr3t", "NmE3YWJj", "k-1", "eyJhbGci"):
        assert secret not in dumped
    assert run.info.host == "https://api.heygen.com/v1?api_key=[redacted]&region=eu"


def test_redact_keeps_identifiers() -> None:
    assert redact("1b4e28ba-2fa1-11d2-883f-0016d3cca427") == "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    assert redact({"git": "3f2a9c1e0b7d4a5f6e8c9b0a1d2e3f4a5b6c7d8e"})["git"].startswith("3f2a")
    assert redact({"access_token": ""}) == {"access_token": ""}
    assert redact({"nested": [{"password": "x"}]}) == {"nested": [{"password": REDACTED}]}
    assert redact_text("token: abc123 and key=val") == f"token: {REDACTED} and key={REDACTED}"
    assert redact_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
