"""The realtime endpoint on the fake clock: audio duration drives talking; interrupt, listening, keep-alive, close."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from aiohttp import WSMsgType, WSServerHandshakeError
from aiohttp.test_utils import TestClient
from yarl import URL

from mockserver.clock import FakeClock
from mockserver.rooms.realtime import UNDERRUN_GRACE_S
from mockserver.sessions import Session, State
from tests.mockserver.helpers import call
from tests.mockserver.rooms.helpers import service_of


def _audio(seconds: float) -> str:
    return base64.b64encode(bytes(int(seconds * 24000) * 2)).decode()


async def _connect(api: TestClient, **fields: Any) -> tuple[Session, Any]:
    data = (await call(api, "new", {"version": "v2", **fields}))[1]["data"]
    await call(api, "start", {"session_id": data["session_id"]})
    session = service_of(api).registry.find(data["session_id"])
    assert session is not None
    ws = await api.ws_connect(URL(data["realtime_endpoint"]).path_qs)
    assert await ws.receive_json() == {"type": "session.state_updated", "state": "connected"}
    return session, ws


def _types(session: Session) -> list[str]:
    return [e["type"] for e in session.events]


async def test_audio_drives_talking(api: TestClient, clock: FakeClock) -> None:
    session, ws = await _connect(api)
    await ws.send_json({"type": "agent.speak", "audio": _audio(0.6), "event_id": "u1"})
    assert await ws.receive_json() == {"type": "agent.state_updated", "previous_state": "idle", "new_state": "speaking"}
    await ws.send_json({"type": "agent.speak", "audio": _audio(0.4), "event_id": "u1"})
    await ws.send_json({"type": "agent.speak_end", "event_id": "u1"})
    await ws.send_json({"type": "session.keep_alive"})
    await clock.advance(0.9)
    assert _types(session) == ["avatar_start_talking"]
    await clock.advance(0.2)
    assert session.events[-1] == {"type": "avatar_stop_talking", "task_id": "u1", "duration_ms": 1000.0}
    assert await ws.receive_json() == {"type": "agent.state_updated", "previous_state": "speaking", "new_state": "idle"}
    await ws.close()


async def test_audio_running_out_without_speak_end(api: TestClient, clock: FakeClock) -> None:
    session, ws = await _connect(api)
    await ws.send_json({"type": "agent.speak", "audio": _audio(0.2)})
    await clock.advance(0.2 + UNDERRUN_GRACE_S - 0.05)
    assert _types(session) == ["avatar_start_talking"]
    await clock.advance(0.1)
    assert _types(session) == ["avatar_start_talking", "avatar_stop_talking"]
    assert session.events[0]["task_id"] == session.events[1]["task_id"]
    await ws.close()


async def test_interrupt_listening_and_junk(api: TestClient, clock: FakeClock) -> None:
    session, ws = await _connect(api)
    for junk in ("not json", '["a list"]', '{"type": "agent.speak", "audio": "***"}', '{"type": "who.knows"}'):
        await ws.send_str(junk)
    await ws.send_json({"type": "agent.speak", "audio": _audio(5), "event_id": "long"})
    await ws.receive_json()  # idle -> speaking
    await clock.advance(1)
    await ws.send_json({"type": "agent.interrupt"})
    assert await ws.receive_json() == {"type": "agent.state_updated", "previous_state": "speaking", "new_state": "idle"}
    assert session.events[-1] == {"type": "avatar_stop_talking", "task_id": "long", "duration_ms": 1000.0}
    await ws.send_json({"type": "agent.start_listening", "event_id": "x"})
    assert (await ws.receive_json())["new_state"] == "listening"
    assert session.listening and _types(session)[-1] == "avatar_start_listening"
    await ws.send_json({"type": "agent.stop_listening"})
    assert (await ws.receive_json())["new_state"] == "idle"
    await ws.close()


async def test_keep_alive_holds_off_the_idle_timeout(api: TestClient, clock: FakeClock) -> None:
    session, ws = await _connect(api, activity_idle_timeout=30)
    for _ in range(3):
        await clock.advance(20)
        await ws.send_json({"type": "session.keep_alive", "event_id": "k"})
        await ws.send_json({"type": "agent.start_listening"})  # a round trip: the keep-alive was handled
        await ws.receive_json()
        await ws.send_json({"type": "agent.stop_listening"})
        await ws.receive_json()
    assert session.state is State.CONNECTED
    await clock.advance(31)
    assert session.state is State.CLOSED
    assert await ws.receive_json() == {"type": "session.state_updated", "state": "closed"}
    assert (await ws.receive()).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)


async def test_only_live_v2_sessions(api: TestClient) -> None:
    v1 = (await call(api, "new", {}))[1]["data"]["session_id"]
    for session_id in (v1, "nope"):
        with pytest.raises(WSServerHandshakeError) as refused:
            await api.ws_connect(f"/v1/realtime?session_id={session_id}")
        assert refused.value.status == 400


async def test_a_new_socket_replaces_the_old(api: TestClient) -> None:
    session, first = await _connect(api)
    second = await api.ws_connect(f"/v1/realtime?session_id={session.session_id}")
    assert (await second.receive_json())["state"] == "connected"
    assert (await first.receive()).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    assert service_of(api).rooms.stats()["realtime_sockets"] == 1
    await second.close()
