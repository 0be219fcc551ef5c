"""``/__admin/network``: profiles, global and per-session conditions, errors; then, end to end with the harness
client, an outage shorter than the media timeout recovers in place and a longer one makes the client re-create
its session."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestClient

from harness import MemorySink, StreamingClient
from harness.media import MediaReceiver
from harness.server_thread import ServerThread
from mockserver.app import create_app
from mockserver.config import NETWORK_PROFILES, MediaSettings, Settings
from tests.mockserver.helpers import admin, new_session

# ------------------------------------------------------------------------------- without a media plane


async def test_profiles_are_listed_and_extensible(api: TestClient) -> None:
    profiles = (await admin(api, "GET", "network/profiles"))["profiles"]
    assert set(profiles) == set(NETWORK_PROFILES)
    assert profiles["regular-3g"]["bandwidth_kbps"] == 750 and profiles["regular-3g"]["delay_ms"] == 250
    await admin(api, "PUT", "settings", {"network_profiles": {"satellite": {"delay_ms": 600, "jitter_ms": 30}}})
    profiles = (await admin(api, "GET", "network/profiles"))["profiles"]
    assert profiles["satellite"]["delay_ms"] == 600 and "regular-3g" in profiles


async def test_errors_without_media(api: TestClient) -> None:
    response = await api.put("/__admin/network", json={"profile": "lossy"})
    assert response.status == 400 and "without a media plane" in (await response.json())["message"]
    assert await admin(api, "DELETE", "network") == {"conditions": None}  # nothing to clear is fine
    sid = await new_session(api)
    response = await api.put(f"/__admin/sessions/{sid}/network", json={"profile": "lossy"})
    assert response.status == 400 and "no WebRTC peer" in (await response.json())["message"]
    response = await api.get("/__admin/sessions/nope/network")
    assert (await response.json())["code"] == 10006


# ----------------------------------------------------------------------------------- with media, over HTTP

#: A client that notices a closed session within a quarter second and re-creates it; decoding, so it sends RTCP.
RECONNECTING: dict[str, Any] = {
    "receive": "decode",
    "keep_alive_interval": 0.25,
    "reconnect": True,
    "stats_interval": None,
}


@pytest.fixture(scope="module")
def mock() -> Iterator[str]:
    """A mock with media on its own thread; short media timeouts so an outage can outlast them quickly."""
    # A decoding client's RTCP reports come every 0.5-1.5 s: 3 s of silence is an outage, not a quiet moment.
    # (A count-mode client sends no RTCP, only ICE consent checks every ~5 s: it needs longer timeouts.)
    media = MediaSettings(peer_silence_timeout_s=3.0, ice_connect_timeout_s=5.0)
    settings = Settings(host="127.0.0.1", port=0, media=media)
    with ServerThread(lambda: create_app(settings)) as server:
        yield server.url


@pytest.fixture
async def admin_http(mock: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{mock}/__admin/") as http:
        yield http
        await http.delete("network")


async def call(http: httpx.AsyncClient, method: str, path: str, body: Any = None) -> Any:
    response = await http.request(method, path, json=body)
    payload = response.json()
    assert response.status_code == 200, payload
    return payload["data"]


async def test_conditions_per_session_and_global(mock: str, admin_http: httpx.AsyncClient) -> None:
    async with StreamingClient(mock, "key-network-routes") as client, client.session(stats_interval=None) as s:
        await s.wait_first_frame(10)
        path = f"sessions/{s.session_id}/network"
        view = await call(admin_http, "GET", path)
        assert view["conditions"] is None and view["effective"] is None

        glob = await call(admin_http, "PUT", "network", {"profile": "regular-3g", "loss_percent": 5})
        assert glob["conditions"]["profile"] == "regular-3g" and glob["conditions"]["loss_percent"] == 5
        assert glob["conditions"]["bandwidth_kbps"] == 750  # the rest from the profile
        view = await call(admin_http, "GET", path)
        assert view["conditions"] is None and view["effective"] == glob["conditions"]

        view = await call(admin_http, "PUT", path, {"delay_ms": 40})
        assert view["conditions"]["delay_ms"] == 40 and view["effective"] == view["conditions"]
        view = await call(admin_http, "DELETE", path)
        assert view["conditions"] is None and view["effective"] == glob["conditions"]
        assert set(view["stats"]) >= {"network_lost", "network_queue_drops", "network_outage_drops"}

        response = await admin_http.put(path, json={"profile": "dial-up"})
        assert response.status_code == 400 and "known: call-drop" in response.json()["message"]
        response = await admin_http.put(path, json={"loss_percent": 101})
        assert response.status_code == 400 and "loss_percent" in response.json()["message"]
        response = await admin_http.put(path, json={"lost": 1})
        assert response.status_code == 400 and "lost" in response.json()["message"]
        assert (await call(admin_http, "DELETE", "network")) == {"conditions": None}
        assert (await call(admin_http, "GET", "network")) == {"conditions": None}


async def test_reset_clears_global_conditions(mock: str, admin_http: httpx.AsyncClient) -> None:
    await call(admin_http, "PUT", "network", {"profile": "lossy"})
    await call(admin_http, "POST", "reset")
    assert (await call(admin_http, "GET", "network")) == {"conditions": None}


async def test_conditions_set_before_a_seed_flow_start_carry_over(mock: str, admin_http: httpx.AsyncClient) -> None:
    """The seed flow replaces the server's offering peer at ``start``; the session's conditions survive that."""
    async with httpx.AsyncClient(base_url=mock, headers={"X-Api-Key": "key-seed-carry"}) as http:
        sid = (await http.post("/v1/streaming.new", json={})).json()["data"]["session_id"]
        await call(admin_http, "PUT", f"sessions/{sid}/network", {"delay_ms": 70})
        receiver = MediaReceiver([], "count")
        try:
            offer = await receiver.offer()
            started = await http.post(
                "/v1/streaming.start", json={"session_id": sid, "sdp": {"type": "offer", "sdp": offer}}
            )
            assert started.status_code == 200, started.json()
            view = await call(admin_http, "GET", f"sessions/{sid}/network")
            assert view["conditions"]["delay_ms"] == 70
        finally:
            await receiver.close()
            await http.post("/v1/streaming.stop", json={"session_id": sid})


async def test_short_outage_recovers_in_place(mock: str, admin_http: httpx.AsyncClient) -> None:
    sink = MemorySink()
    client = StreamingClient(mock, "key-short-outage", sink=sink)
    async with client, client.session(**RECONNECTING) as s:
        await s.wait_first_frame(10)
        sid, receiver = s.session_id, s.receiver
        assert receiver is not None
        await call(admin_http, "PUT", f"sessions/{sid}/network", {"outage_s": 0.8})
        frames = receiver.video.frames
        await asyncio.sleep(4.0)  # longer than the silence timeout: the session would have failed by now
        stats = s.media_stats()
        print(f"0.8 s outage (silence timeout 3 s): longest gap {stats.max_gap_ms:.0f} ms, same session")
        assert s.session_id == sid and s.reconnects == 0 and s.receiver is receiver
        assert receiver.video.frames > frames + 10  # media came back
        assert stats.freezes >= 1 and 700 < stats.max_gap_ms < 1300
    assert not sink.of("session.reconnect")


async def test_outage_longer_than_the_media_timeout_makes_the_client_reconnect(
    mock: str, admin_http: httpx.AsyncClient
) -> None:
    sink = MemorySink()
    client = StreamingClient(mock, "key-long-outage", sink=sink, labels={"network_profile": "outage"})
    async with client, client.session(**RECONNECTING) as s:
        await s.wait_first_frame(10)
        old = s.session_id
        t0 = time.perf_counter()
        await call(admin_http, "PUT", f"sessions/{old}/network", {"outage_s": 10})
        deadline = time.monotonic() + 10
        while s.reconnects == 0:
            assert time.monotonic() < deadline, "no reconnect"
            await asyncio.sleep(0.05)
        await s.wait_first_frame(10)
        recovered_ms = (time.perf_counter() - t0) * 1000
        closed = await call(admin_http, "GET", f"sessions/{old}")
        assert closed["close_reason"] == "media_failed"
        assert s.session_id != old
        [sample] = sink.of("session.reconnect")
        print(
            f"10 s outage (silence timeout 3 s): old session {closed['close_reason']}, new session after "
            f"{recovered_ms:.0f} ms from the outage start (reconnect itself {sample.value:.0f} ms)"
        )
        assert sample.ok and sample.value is not None and sample.labels["network_profile"] == "outage"
        assert 3000 < recovered_ms < 8000
