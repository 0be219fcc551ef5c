"""``--network-profile``: one locust run over two network profiles gives a report that compares them."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import pytest

from tests.loadtests.test_scenarios import finish, start, stop_when_measured

pytestmark = pytest.mark.timeout(240)
PROFILES = ("none", "regular-3g")


def test_a_run_over_two_profiles_reports_both(tmp_path: Path) -> None:
    """The embedded mock, two speaking users, one per profile; stopped once both profiles measured speech."""
    args = ["--headless", "-t", "90s", "-u", "2", "-r", "2", "--tags", "speech", "--sentences", "short",
            "--think-time", "0.2,0.5", "--interrupt-every", "0", "--network-profile", ",".join(PROFILES)]  # fmt: skip

    def both_spoke(samples: list[dict[str, Any]]) -> bool:
        onsets = [s["network_profile"] for s in samples if s["metric"] == "speech.onset" and s["ok"]]
        return all(onsets.count(p) >= 4 for p in PROFILES)

    process = start(args, tmp_path)
    stop_when_measured({"run": (process, tmp_path, both_spoke)})
    run = finish(process)
    assert run.code == 0 and run.run_path is not None, run.explain()
    assert run.lines[0]["network_profile"] == "none,regular-3g"
    assert {s["network_profile"] for s in run.samples if s["session"]} == set(PROFILES)
    onset = {p: sorted(s["value"] for s in run.samples if s["metric"] == "speech.onset" and s["network_profile"] == p)
             for p in PROFILES}  # fmt: skip
    print(f"speech.onset ms by profile: {onset}")
    assert statistics.median(onset["regular-3g"]) > statistics.median(onset["none"]) + 150  # media 250 ms late
    html = run.run_path.with_name("report.html").read_text()
    assert "By network profile" in html and "regular-3g" in html
