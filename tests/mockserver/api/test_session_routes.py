"""Session lifecycle endpoints: shapes, auth, ownership, limits, state errors, timeouts, lists."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from mockserver.clock import FakeClock
from tests.conftest import KEY, OTHER_KEY
from tests.mockserver.helpers import admin, call, new_session, started_session


async def test_new_v1_shape(api: TestClient) -> None:
    status, body = await call(api, "new", {"quality": "high", "avatar_id": "josh_lite3_20230714"})
    assert status == 200
    assert body["code"] == 100 and body["error"] is None
    data = body["data"]
    assert {"session_id", "access_token", "url", "ice_servers", "ice_servers2", "session_duration_limit"} <= set(data)
    assert data["url"].startswith("ws://")
    assert data["session_duration_limit"] == 600


async def test_new_v2_shape_has_everything_pipecat_validates(api: TestClient) -> None:
    status, body = await call(
        api, "new", {"version": "v2", "avatar_name": "default", "voice": {"elevenlabs_settings": {}}}
    )
    assert status == 200
    data = body["data"]
    for field in ("session_id", "access_token", "url", "livekit_agent_token", "realtime_endpoint"):
        assert data[field], field
    assert "sdp" not in data and "ice_servers" not in data
    assert data["session_id"] in data["realtime_endpoint"]


async def test_sdk_body_is_accepted_verbatim(api: TestClient) -> None:
    body = {
        "avatar_name": "default",
        "quality": "low",
        "voice": {"elevenlabs_settings": {}},
        "version": "v2",
        "video_encoding": "H264",
        "source": "sdk",
        "ia_is_livekit_transport": False,
    }
    status, _ = await call(api, "new", body)
    assert status == 200


async def test_seed_flat_voice_id_and_enum_case_accepted(api: TestClient) -> None:
    status, body = await call(api, "new", {"voice_id": "v1", "quality": "HIGH", "video_encoding": "vp8"})
    assert status == 200, body
    sessions = await admin(api, "GET", "sessions")
    assert sessions["sessions"][0]["quality"] == "high"
    assert sessions["sessions"][0]["video_encoding"] == "VP8"


async def test_invalid_fields_name_the_field(api: TestClient) -> None:
    for payload, field in [
        ({"quality": "ultra"}, "quality"),
        ({"quality": 5}, "quality"),
        ({"video_encoding": "AV1"}, "video_encoding"),
        ({"activity_idle_timeout": 29}, "activity_idle_timeout"),
        ({"activity_idle_timeout": "120"}, "activity_idle_timeout"),
        ({"voice": {"emotion": "Angry"}}, "voice.emotion"),
        ({"voice": {"rate": -1}}, "voice.rate"),
        ({"disable_idle_timeout": "yes"}, "disable_idle_timeout"),
    ]:
        status, body = await call(api, "new", payload)
        assert status == 400, payload
        assert body["code"] == 400175, payload
        assert field in body["message"], (payload, body["message"])
        assert body["data"] is None


async def test_missing_parameter_is_40001(api: TestClient) -> None:
    for op in ("start", "task", "stop", "keep_alive", "interrupt", "ice"):
        status, body = await call(api, op, {})
        assert (status, body["code"]) == (400, 40001), op
        assert "session_id" in body["message"]


async def test_avatar_errors(api: TestClient) -> None:
    _, body = await call(api, "new", {"avatar_id": "nobody"})
    assert body["code"] == 10012
    _, body = await call(api, "new", {"avatar_name": "Tyler-incasualsuit-20220721"})
    assert body["code"] == 10013


async def test_auth_required_everywhere(api: TestClient) -> None:
    for op in ("new", "start", "task", "stop", "create_token"):
        status, body = await call(api, op, {"session_id": "x"}, key=None)
        assert (status, body["code"]) == (401, 400112), op
    response = await api.get("/v1/streaming.list")
    assert response.status == 401
    response = await api.get("/v1/streaming.list", headers={"Authorization": "Bearer nonsense"})
    assert response.status == 401


async def test_configured_keys_restrict_access(api: TestClient) -> None:
    await admin(api, "PATCH", "settings", {"api_keys": [KEY]})
    assert (await call(api, "new", {}, key=OTHER_KEY))[0] == 401
    assert (await call(api, "new", {}, key=KEY))[0] == 200


async def test_concurrency_limit_per_key(api: TestClient) -> None:
    ids = [await new_session(api) for _ in range(3)]
    status, body = await call(api, "new", {})
    assert (status, body["code"]) == (400, 10007)
    # Another key has its own budget; stopping one frees a slot.
    await new_session(api, key=OTHER_KEY)
    await call(api, "stop", {"session_id": ids[0]})
    await new_session(api)


async def test_per_key_limit_override(api: TestClient) -> None:
    await admin(api, "PATCH", "settings", {"concurrency_limits": {KEY: 1}})
    await new_session(api)
    assert (await call(api, "new", {}))[1]["code"] == 10007
    assert (await call(api, "new", {}, key=OTHER_KEY))[0] == 200


async def test_state_errors(api: TestClient) -> None:
    sid = await new_session(api)
    assert (await call(api, "task", {"session_id": sid, "text": "hi"}))[1]["code"] == 10001
    assert (await call(api, "start", {"session_id": sid}))[0] == 200
    assert (await call(api, "start", {"session_id": sid}))[1]["code"] == 10003
    assert (await call(api, "stop", {"session_id": sid}))[0] == 200
    for op in ("start", "task", "stop", "keep_alive", "interrupt", "start_listening"):
        status, body = await call(api, op, {"session_id": sid, "text": "hi"})
        assert (status, body["code"]) == (400, 10005), op


async def test_foreign_and_unknown_sessions_are_not_found(api: TestClient) -> None:
    sid = await started_session(api)
    for op in ("start", "task", "stop", "keep_alive", "interrupt", "ice", "start_listening", "stop_listening"):
        body = {"session_id": sid, "text": "hi", "candidate": {"candidate": ""}}
        status, payload = await call(api, op, body, key=OTHER_KEY)
        assert (status, payload["code"]) == (400, 10006), op
        status, payload = await call(api, op, {**body, "session_id": "does-not-exist"})
        assert (status, payload["code"]) == (400, 10006), op
    # The foreign calls changed nothing.
    assert (await call(api, "task", {"session_id": sid, "text": "hi", "task_mode": "async"}))[0] == 200


async def test_tokens_are_single_use_and_bound_to_their_session(api: TestClient) -> None:
    _, body = await call(api, "create_token", {})
    assert body["error"] is None
    token = body["data"]["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    status, created = await call(api, "new", {}, key=None, **bearer)
    assert status == 200
    sid = created["data"]["session_id"]
    assert (await call(api, "new", {}, key=None, **bearer))[1]["code"] == 400112
    assert (await call(api, "start", {"session_id": sid}, key=None, **bearer))[0] == 200
    other = await started_session(api)  # same key, but not the token's session
    assert (await call(api, "stop", {"session_id": other}, key=None, **bearer))[1]["code"] == 10006
    listed = await (await api.get("/v1/streaming.list", headers=bearer)).json()
    assert [s["session_id"] for s in listed["data"]["sessions"]] == [sid]
    # A token cannot mint tokens.
    assert (await call(api, "create_token", {}, key=None, **bearer))[0] == 401


async def test_list_shows_only_own_live_sessions(api: TestClient) -> None:
    mine = await started_session(api)
    stopped = await new_session(api)
    await call(api, "stop", {"session_id": stopped})
    await new_session(api, key=OTHER_KEY)
    body = await (await api.get("/v1/streaming.list", headers={"X-Api-Key": KEY})).json()
    assert body["data"]["sessions"] == [
        {"session_id": mine, "status": "connected", "created_at": body["data"]["sessions"][0]["created_at"]}
    ]


async def test_history_paginates_own_sessions(api: TestClient) -> None:
    for _ in range(5):
        sid = await new_session(api)
        await call(api, "stop", {"session_id": sid})
    headers = {"X-Api-Key": KEY}
    page = (await (await api.get("/v2/streaming.list?page=2&page_size=2", headers=headers)).json())["data"]
    assert (page["total"], page["page"], page["page_size"], len(page["data"])) == (5, 2, 2, 2)
    assert page["next_pagination_token"] == "3"
    assert page["data"][0]["status"] == "closed"
    assert {"api_key_type", "duration", "avatar_id", "voice_name"} <= set(page["data"][0])
    for query in ("page=0", "page=%C2%B2", "page_size=%D9%A3"):  # 0, a superscript two, an Arabic-Indic three
        bad = await api.get(f"/v2/streaming.list?{query}", headers=headers)
        assert bad.status == 400 and (await bad.json())["code"] == 400175, query
    other = (await (await api.get("/v2/streaming.list", headers={"X-Api-Key": OTHER_KEY})).json())["data"]
    assert other["total"] == 0


async def test_idle_timeout_closes_and_keep_alive_resets(api: TestClient, clock: FakeClock) -> None:
    sid = await started_session(api, activity_idle_timeout=60)
    await clock.advance(50)
    assert (await call(api, "keep_alive", {"session_id": sid}))[0] == 200
    await clock.advance(50)
    assert (await call(api, "keep_alive", {"session_id": sid}))[0] == 200
    await clock.advance(61)
    assert (await call(api, "keep_alive", {"session_id": sid}))[1]["code"] == 10005
    detail = await admin(api, "GET", f"sessions/{sid}")
    assert detail["close_reason"] == "idle_timeout"


async def test_default_idle_timeout_is_120s(api: TestClient, clock: FakeClock) -> None:
    sid = await started_session(api)
    await clock.advance(119)
    assert (await admin(api, "GET", f"sessions/{sid}"))["status"] == "connected"
    await clock.advance(2)
    assert (await admin(api, "GET", f"sessions/{sid}"))["status"] == "closed"


async def test_disable_idle_timeout_keeps_session_until_duration_limit(api: TestClient, clock: FakeClock) -> None:
    sid = await started_session(api, disable_idle_timeout=True)
    await clock.advance(599)
    assert (await admin(api, "GET", f"sessions/{sid}"))["status"] == "connected"
    await clock.advance(2)
    detail = await admin(api, "GET", f"sessions/{sid}")
    assert (detail["status"], detail["close_reason"]) == ("closed", "duration_limit")


async def test_usage_counts_session_seconds_per_key(api: TestClient, clock: FakeClock) -> None:
    sid = await started_session(api)
    await clock.advance(30)
    await call(api, "stop", {"session_id": sid})
    await clock.advance(100)
    usage = (await admin(api, "GET", "usage"))["usage"]
    assert list(usage.values()) == [30.0]
    assert KEY not in str(usage)


async def test_ice_without_media_is_accepted_and_validated(api: TestClient) -> None:
    sid = await started_session(api)
    ok = {"session_id": sid, "candidate": {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0}}
    assert (await call(api, "ice", ok))[0] == 200
    status, body = await call(api, "ice", {"session_id": sid, "candidate": {"sdpMLineIndex": -1, "candidate": ""}})
    assert (status, body["code"]) == (400, 400175)
    assert "candidate.sdpMLineIndex" in body["message"]
