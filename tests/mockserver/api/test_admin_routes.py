"""The admin API: reset, settings, sessions, events, kill, usage, stats, faults, and who may use it."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from mockserver.app import create_app
from mockserver.clock import FakeClock
from mockserver.config import Settings
from tests.conftest import KEY
from tests.mockserver.helpers import admin, call, new_session, started_session


async def test_reset_closes_everything(api: TestClient) -> None:
    await started_session(api)
    await admin(api, "PUT", "faults", {"endpoints": {"streaming.new": {"error_rate": 1, "error_code": 10007}}})
    await admin(api, "POST", "reset")
    assert (await admin(api, "GET", "sessions"))["sessions"] == []
    assert (await admin(api, "GET", "faults")) == {"endpoints": {}}
    assert await admin(api, "GET", "stats") == {"sessions_live": 0, "session_timers": 0, "peer_connections": 0}


async def test_settings_are_masked_and_patchable(api: TestClient) -> None:
    updated = await admin(api, "PATCH", "settings", {"api_keys": [KEY], "speech": {"words_per_minute": 300}})
    assert updated["speech"]["words_per_minute"] == 300
    assert updated["speech"]["comma_pause_ms"] == 250  # untouched siblings survive a partial patch
    assert KEY not in str(updated) and updated["api_keys"] == ["***6789"]
    response = await api.patch("/__admin/settings", json={"concurrency_limit": 0})
    body = await response.json()
    assert response.status == 400 and "concurrency_limit" in body["message"]
    response = await api.patch("/__admin/settings", json={"latency_profile": "nope"})
    assert response.status == 400


async def test_kill_ends_a_session_like_a_dropped_stream(api: TestClient) -> None:
    sid = await started_session(api)
    killed = await admin(api, "POST", f"sessions/{sid}/kill")
    assert (killed["status"], killed["close_reason"]) == ("closed", "killed")
    assert (await call(api, "task", {"session_id": sid, "text": "hi"}))[1]["code"] == 10005
    response = await api.post("/__admin/sessions/nope/kill")
    assert response.status == 400 and (await response.json())["code"] == 10006


async def test_error_storm_and_latency_faults(api: TestClient, clock: FakeClock) -> None:
    await admin(api, "PUT", "faults", {"endpoints": {"streaming.new": {"error_rate": 1, "error_code": 10007}}})
    status, body = await call(api, "new", {})
    assert (status, body["code"]) == (400, 10007)
    await admin(
        api, "PUT", "faults", {"endpoints": {"*": {"error_rate": 1, "error_code": 500, "error_message": "boom"}}}
    )
    status, body = await call(api, "new", {})
    assert (status, body["message"]) == (500, "boom")
    await admin(api, "DELETE", "faults")
    await admin(api, "PUT", "faults", {"endpoints": {"streaming.new": {"latency": {"kind": "fixed", "ms": 5000}}}})
    import asyncio

    pending = asyncio.ensure_future(call(api, "new", {}))
    await asyncio.sleep(0.05)
    await clock.advance(4)
    assert not pending.done()
    await clock.advance(2)
    assert (await asyncio.wait_for(pending, 5))[0] == 200


async def test_bad_fault_tables_are_refused(api: TestClient) -> None:
    for table in (
        {"endpoints": {"streaming.new": {"error_rate": 2}}},
        {"endpoints": {"streaming.new": {"error_code": 123}}},
        {"endpoints": {"streaming.new": {"latency": {"kind": "uniform", "low_ms": 5, "high_ms": 1}}}},
        {"endpoints": {"streaming.new": {"surprise": 1}}},
        [1, 2],
    ):
        response = await api.put("/__admin/faults", json=table)
        assert response.status == 400, table


async def test_session_views_never_show_keys(api: TestClient) -> None:
    await new_session(api)
    text = str(await admin(api, "GET", "sessions"))
    assert KEY not in text and "***" in text


async def test_admin_can_be_disabled(clock: FakeClock) -> None:
    client = TestClient(TestServer(create_app(Settings(admin_enabled=False), clock=clock, media=False)))
    await client.start_server()
    try:
        response = await client.get("/__admin/sessions")
        assert response.status == 404 and (await response.json())["code"] == 404
    finally:
        await client.close()


def test_admin_is_on_by_default_only_for_loopback_binds() -> None:
    assert Settings(host="127.0.0.1").admin_active
    assert not Settings(host="0.0.0.0").admin_active
    assert Settings(host="0.0.0.0", admin_enabled=True).admin_active


async def test_process_info_for_soak_tests(api: TestClient) -> None:
    info = await admin(api, "GET", "process")
    assert info["rss_bytes"] > 10 * 1024 * 1024
    assert info["open_fds"] > 0 and info["asyncio_tasks"] >= 1 and info["threads"] >= 1
