"""Speaking endpoints: timing from the speech model, event order, queueing, interrupt, listening."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from mockserver.clock import FakeClock
from mockserver.config import SpeechSettings
from mockserver.speech import reply_for, speaking_duration_ms
from tests.mockserver.helpers import admin, call, started_session

TEXT = "Hello there. How are you today?"


async def events(api: TestClient, sid: str) -> list[dict]:
    return list((await admin(api, "GET", f"sessions/{sid}/events"))["events"])


async def until_talking(api: TestClient, sid: str) -> None:
    """Wait (in real time, briefly) until a request sent in the background has started speech."""
    for _ in range(200):
        if (await admin(api, "GET", f"sessions/{sid}"))["talking"]:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("speech did not start")


async def test_async_task_returns_at_once_and_events_follow_the_model(api: TestClient, clock: FakeClock) -> None:
    sid = await started_session(api)
    status, body = await call(
        api, "task", {"session_id": sid, "text": TEXT, "task_type": "repeat", "task_mode": "async"}
    )
    assert status == 200
    duration = body["data"]["duration_ms"]
    task_id = body["data"]["task_id"]
    assert duration == speaking_duration_ms(TEXT, SpeechSettings())
    await clock.advance(0)
    assert [e["type"] for e in await events(api, sid)] == ["avatar_start_talking", "avatar_talking_message"]
    await clock.advance(duration / 1000 - 0.01)
    kinds = [e["type"] for e in await events(api, sid)]
    assert kinds.count("avatar_talking_message") == 2 and "avatar_stop_talking" not in kinds
    await clock.advance(0.02)
    evs = await events(api, sid)
    assert [e["type"] for e in evs][-2:] == ["avatar_end_message", "avatar_stop_talking"]
    assert evs[-1] == {"type": "avatar_stop_talking", "task_id": task_id, "duration_ms": duration}
    assert " ".join(e["message"] for e in evs if e["type"] == "avatar_talking_message") == TEXT


async def test_sync_task_answers_when_speech_ends(api: TestClient, clock: FakeClock) -> None:
    sid = await started_session(api)
    pending = asyncio.ensure_future(call(api, "task", {"session_id": sid, "text": TEXT, "task_type": "repeat"}))
    await clock.advance(1)
    assert not pending.done()
    await clock.advance(10)
    status, body = await asyncio.wait_for(pending, 5)
    assert status == 200 and body["data"]["task_id"]


async def test_talk_speaks_a_deterministic_reply(api: TestClient, clock: FakeClock) -> None:
    sid = await started_session(api)
    _, body = await call(api, "task", {"session_id": sid, "text": "What is the weather?", "task_mode": "async"})
    await clock.advance(30)
    spoken = " ".join(e["message"] for e in await events(api, sid) if e["type"] == "avatar_talking_message")
    assert spoken == reply_for("What is the weather?")
    assert body["data"]["duration_ms"] == speaking_duration_ms(spoken, SpeechSettings())


async def test_tasks_queue_in_order(api: TestClient, clock: FakeClock) -> None:
    sid = await started_session(api)
    ids = []
    for text in ("One.", "Two.", "Three."):
        _, body = await call(
            api, "task", {"session_id": sid, "text": text, "task_type": "repeat", "task_mode": "async"}
        )
        ids.append(body["data"]["task_id"])
    await clock.advance(60)
    starts = [e["task_id"] for e in await events(api, sid) if e["type"] == "avatar_start_talking"]
    stops = [e["task_id"] for e in await events(api, sid) if e["type"] == "avatar_stop_talking"]
    assert starts == ids and stops == ids


async def test_interrupt_ends_speech_and_drops_the_queue(api: TestClient, clock: FakeClock) -> None:
    sid = await started_session(api)
    waiting = asyncio.ensure_future(call(api, "task", {"session_id": sid, "text": TEXT, "task_type": "repeat"}))
    await until_talking(api, sid)
    await call(api, "task", {"session_id": sid, "text": "Queued.", "task_type": "repeat", "task_mode": "async"})
    await clock.advance(0.5)
    assert (await call(api, "interrupt", {"session_id": sid}))[0] == 200
    status, _ = await asyncio.wait_for(waiting, 5)
    assert status == 200
    await clock.advance(60)
    evs = await events(api, sid)
    assert [e["type"] for e in evs].count("avatar_start_talking") == 1
    assert evs[-1]["type"] == "avatar_stop_talking" and evs[-1]["duration_ms"] == 500.0


async def test_text_limits(api: TestClient) -> None:
    sid = await started_session(api)
    for text in ("", "   ", "x" * 1001):
        status, body = await call(api, "task", {"session_id": sid, "text": text})
        assert (status, body["code"]) == (400, 400175)
        assert "text" in body["message"]
    for bad in ({"text": 5}, {"text": "hi", "task_type": "sing"}, {"text": "hi", "task_mode": "later"}):
        status, body = await call(api, "task", {"session_id": sid, **bad})
        assert (status, body["code"]) == (400, 400175), bad
    status, body = await call(api, "task", {"session_id": sid})
    assert (status, body["code"]) == (400, 40001)


async def test_unicode_and_control_characters_are_spoken(api: TestClient) -> None:
    sid = await started_session(api)
    text = "Grüße 👋 \u0000\u0007 こんにちは。\n\tok"
    status, body = await call(
        api, "task", {"session_id": sid, "text": text, "task_type": "repeat", "task_mode": "async"}
    )
    assert status == 200 and body["data"]["duration_ms"] > 0


async def test_listening_toggles_emit_events_once(api: TestClient) -> None:
    sid = await started_session(api)
    for op in ("start_listening", "start_listening", "stop_listening"):
        assert (await call(api, op, {"session_id": sid}))[0] == 200
    assert [e["type"] for e in await events(api, sid)] == ["avatar_start_listening", "avatar_stop_listening"]


async def test_tasks_reset_the_idle_timer(api: TestClient, clock: FakeClock) -> None:
    sid = await started_session(api, activity_idle_timeout=30)
    await clock.advance(25)
    await call(api, "task", {"session_id": sid, "text": "Hi.", "task_type": "repeat", "task_mode": "async"})
    await clock.advance(25)
    assert (await admin(api, "GET", f"sessions/{sid}"))["status"] == "connected"


async def test_heygen_profile_delays_speech_start(api: TestClient, clock: FakeClock) -> None:
    await admin(api, "PATCH", "settings", {"latency_profile": "heygen"})
    await admin(api, "PUT", "faults", {"endpoints": {"*": {"latency": {"kind": "none"}}}})
    sid = await started_session(api)
    await call(api, "task", {"session_id": sid, "text": "Hi.", "task_type": "repeat", "task_mode": "async"})
    await clock.advance(1.5)
    assert await events(api, sid) == []
    await clock.advance(5)
    assert (await events(api, sid))[0]["type"] == "avatar_start_talking"


async def test_stop_while_speaking_releases_sync_callers(api: TestClient, clock: FakeClock) -> None:
    sid = await started_session(api)
    waiting = asyncio.ensure_future(call(api, "task", {"session_id": sid, "text": TEXT, "task_type": "repeat"}))
    await until_talking(api, sid)
    await call(api, "stop", {"session_id": sid})
    status, _ = await asyncio.wait_for(waiting, 5)
    assert status == 200
    assert (await admin(api, "GET", "stats"))["session_timers"] == 0
