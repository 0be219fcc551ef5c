"""The SDK's chat socket: its protobuf frames (text, microphone audio), voice turns, push-to-talk, who may connect."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from aiohttp import WSMsgType, WSServerHandshakeError
from aiohttp.test_utils import TestClient

from mockserver.rooms.chat import END_OF_TURN_S, SILENCE_PROMPT_S, VOICE_TRANSCRIPT, VoiceActivity
from mockserver.rooms.frames import Frame
from mockserver.sessions import Session
from tests.conftest import KEY
from tests.mockserver.helpers import call
from tests.mockserver.rooms.helpers import service_of

RATE = 16000


def _pcm(seconds: float, amplitude: float) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * 220 * t) * amplitude * 32767).astype("<i2").tobytes()


def _audio_frame(pcm: bytes) -> bytes:
    frame = Frame()
    frame.audio.audio = pcm
    frame.audio.sample_rate = RATE
    frame.audio.num_channels = 1
    return bytes(frame.SerializeToString())


def _feed(voice: VoiceActivity, seconds: float, amplitude: float, chunk: float = 0.032) -> list[str]:
    """Feed audio in the SDK's chunks (512 samples at 16 kHz)."""
    events: list[str] = []
    for _ in range(round(seconds / chunk)):
        events += voice.feed(_pcm(chunk, amplitude), RATE)
    return events


def test_voice_turns_follow_the_audio_timeline() -> None:
    voice = VoiceActivity(silence_prompt=False)
    assert _feed(voice, 0.5, 0.3) == ["user_start"]
    assert _feed(voice, END_OF_TURN_S - 0.1, 0.0) == []  # a pause inside the turn
    assert _feed(voice, 0.3, 0.3) == []
    assert _feed(voice, END_OF_TURN_S + 0.1, 0.0) == ["user_stop"]
    assert _feed(voice, SILENCE_PROMPT_S + 1, 0.0) == []  # no silence prompts unless asked for


def test_silence_prompts_when_asked() -> None:
    voice = VoiceActivity(silence_prompt=True)
    assert _feed(voice, 2 * SILENCE_PROMPT_S + 0.5, 0.001) == ["user_silence", "user_silence"]
    assert voice.feed(b"", RATE) == [] and voice.feed(b"\x00", RATE) == []


async def _token_session(api: TestClient) -> tuple[str, Session]:
    token = (await call(api, "create_token", {}))[1]["data"]["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    data = (await call(api, "new", {"version": "v2"}, key=None, **bearer))[1]["data"]
    await call(api, "start", {"session_id": data["session_id"]}, key=None, **bearer)
    session = service_of(api).registry.find(data["session_id"])
    assert session is not None
    return token, session


async def _chat(api: TestClient, session: Session, token: str, **query: str) -> Any:
    params = {"session_id": session.session_id, "session_token": token, "arch_version": "v2", **query}
    return await api.ws_connect("/v1/ws/streaming.chat", params=params)


async def test_who_may_connect(api: TestClient) -> None:
    token, session = await _token_session(api)
    other_token, _ = await _token_session(api)
    with pytest.raises(WSServerHandshakeError) as refused:
        await _chat(api, session, "no-such-token")
    assert refused.value.status == 401
    with pytest.raises(WSServerHandshakeError) as refused:
        await _chat(api, session, other_token)  # a token bound to another session
    assert refused.value.status == 400
    await call(api, "stop", {"session_id": session.session_id}, key=KEY)
    with pytest.raises(WSServerHandshakeError):
        await _chat(api, session, token)


async def test_text_frames_are_user_messages(api: TestClient) -> None:
    token, session = await _token_session(api)
    ws = await _chat(api, session, token)
    # Frame{text: TextFrame{text: "hi"}} exactly as protobufjs encodes it (id and name left out).
    await ws.send_bytes(b"\x0a\x04\x1a\x02hi")
    await ws.send_bytes(b"\xff\xff not a frame")  # ignored
    await ws.send_str("text frames are ignored too")
    await ws.send_bytes(b"\x0a\x04\x1a\x02hi")
    await ws.close()
    assert [e["type"] for e in session.events].count("avatar_start_talking") == 1  # one speaks, one queued
    assert len(session.queue) == 1


async def test_voice_turns_and_push_to_talk(api: TestClient) -> None:
    token, session = await _token_session(api)
    ws = await _chat(api, session, token)
    await ws.send_bytes(_audio_frame(_pcm(0.3, 0.3)))
    assert await ws.receive_json() == {"event_type": "user_start", "session_id": session.session_id}
    await ws.send_bytes(_audio_frame(_pcm(END_OF_TURN_S + 0.1, 0.0)))
    assert (await ws.receive_json())["event_type"] == "user_stop"
    kinds = [e["type"] for e in session.events]
    assert kinds[:3] == ["user_talking_message", "user_end_message", "avatar_start_talking"]
    assert session.events[0]["message"] == VOICE_TRANSCRIPT

    hub = service_of(api).rooms
    hub.client_data(session, b'"push_to_talk:start"')
    assert (await ws.receive_json())["event_type"] == "user_start"
    hub.client_data(session, b'"push_to_talk:stop"')
    assert (await ws.receive_json())["event_type"] == "user_stop"
    assert hub.stats()["chat_sockets"] == 1

    await call(api, "stop", {"session_id": session.session_id}, key=KEY)
    assert (await ws.receive()).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    assert hub.stats()["chat_sockets"] == 0


async def test_room_data_forms(api: TestClient) -> None:
    _, session = await _token_session(api)
    hub = service_of(api).rooms
    for payload in (b'{"not": "text"}', b"\xff\xfe", b'"   "'):
        hub.client_data(session, payload)
    assert list(session.events) == []
    hub.client_data(session, b"plain text works too")
    assert session.events[0]["type"] == "avatar_start_talking"
