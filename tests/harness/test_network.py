"""Network profiles from the client's side: sessions opened on a profile of the mock (or switched to one), samples
labelled, the pytest fixture, and two runs under two profiles compared in a report."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness import MemorySink, RunWriter, StreamingClient, Tee, errors
from harness.network import (
    apply_network_profile,
    clear_global_network,
    network_profiles,
    parse_profiles,
    set_global_network,
    set_session_network,
)
from harness.pytest_plugin import HeygenTarget
from reports import build_report, compare_runs, load_run

SENTENCE = "Hello there, this is a short one."


def test_profile_lists() -> None:
    assert parse_profiles(" none, regular-3g ,,") == ["none", "regular-3g"]
    assert parse_profiles(None) == []


async def test_admin_calls(heygen_mock: HeygenTarget) -> None:
    profiles = await network_profiles(heygen_mock.url)
    assert profiles["lossy"]["loss_percent"] == 10
    view = await set_global_network(heygen_mock.url, "lossy", delay_ms=20)
    assert view["conditions"]["delay_ms"] == 20 and view["conditions"]["loss_percent"] == 10
    await clear_global_network(heygen_mock.url)
    with pytest.raises(errors.SessionNotFound):
        await set_session_network(heygen_mock.url, "nope", "lossy")
    with pytest.raises(errors.StreamingError, match="unknown 'dial-up'"):
        await set_global_network(heygen_mock.url, "dial-up")


async def test_a_profile_can_be_switched_on_mid_session(heygen_mock: HeygenTarget) -> None:
    sink = MemorySink()
    async with heygen_mock.client(sink=sink) as client, client.session(stats_interval=None) as s:
        await s.wait_first_frame(10)
        await apply_network_profile(s, "lossy")
        assert heygen_mock.admin.network(s.session_id)["effective"]["loss_percent"] == 10
        await s.keep_alive()
    assert sink.of("rest.streaming.keep_alive")[-1].labels["network_profile"] == "lossy"
    assert "network_profile" not in sink.of("session.create")[0].labels  # before the switch


@pytest.mark.parametrize("heygen_network_profile", ["poor-4g"])
async def test_streaming_client_fixture_runs_on_the_profile(
    streaming_client: StreamingClient, heygen_mock: HeygenTarget
) -> None:
    async with streaming_client.session(stats_interval=None) as s:
        await s.wait_first_frame(10)
        assert heygen_mock.admin.network(s.session_id)["conditions"]["profile"] == "poor-4g"


def test_a_profile_needs_media(heygen_mock: HeygenTarget) -> None:
    with pytest.raises(ValueError, match="needs flow v1 or seed"):
        heygen_mock.client().session(flow="none", network_profile="lossy")


async def test_two_profiles_make_a_report_comparing_them(heygen_mock: HeygenTarget, tmp_path: Path) -> None:
    runs: dict[str, Path] = {}
    both = RunWriter(tmp_path / "both" / "samples.jsonl", {"scenario": "network", "target": "mock"})
    for profile, flow in (("none", "v1"), ("regular-3g", "seed")):
        runs[profile] = tmp_path / profile / "samples.jsonl"
        with RunWriter(runs[profile], {"scenario": "network", "target": "mock", "network_profile": profile}) as one:
            client = heygen_mock.client(sink=Tee(one, both), labels={"scenario": "network"}, network_profile=profile)
            async with client, client.session(flow=flow, stats_interval=1.0) as s:  # type: ignore[arg-type]
                await s.wait_first_frame(10)
                assert heygen_mock.admin.network(s.session_id)["conditions"]["profile"] == profile
                await asyncio.sleep(1.0)  # a media window on this network
                for _ in range(2):
                    await s.speak(SENTENCE)
    both.close()

    onset = {p: [x.value for x in load_run(path).samples if x.metric == "speech.onset"] for p, path in runs.items()}
    print(f"speech.onset ms: none {onset['none']}, regular-3g {onset['regular-3g']}")
    cmp = compare_runs(runs["none"], runs["regular-3g"], tmp_path / "compare.html", ["speech.onset.p50 > base + 150"])
    # regular-3g delays the media by 250 ms: its onset is later by about that, and the gate says so.
    assert [r.gate.metric for r in cmp.fired] == ["speech.onset"]
    assert "regular-3g" in (tmp_path / "compare.html").read_text()
    labelled = load_run(runs["regular-3g"]).samples
    assert {x.network_profile for x in labelled} == {"regular-3g"}  # every sample, REST calls included

    report = build_report(tmp_path / "both" / "samples.jsonl")
    html = report.read_text()
    assert "By network profile" in html and "regular-3g" in html
