"""The ``livekit`` Python SDK (the room client of pipecat and LiveKit agents), unmodified, in a mock v2 session.

It joins with the session's token over ``ws://`` and ``wss://`` (trusting the generated CA through
``SSL_CERT_FILE``), receives the avatar's video at the tier's resolution and its audio, hears the avatar's
events as room data, makes the avatar talk by publishing text, and is told to leave when the session stops.
A wrong or expired token is refused the way LiveKit refuses it.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from livekit import rtc

from harness.room import AvatarRoom
from mockserver.api.common import SERVICE
from mockserver.app import create_app
from mockserver.config import Settings, SpeechSettings
from mockserver.rooms.tokens import RoomTokens
from mockserver.sessions import State
from mockserver.tls import ensure_loopback_certificate, server_context

KEY = {"X-Api-Key": "e2e-livekit-sdk-key-000"}

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]


@dataclass
class Mock:
    app: web.Application
    http: str
    https: str
    tls: ssl.SSLContext

    async def call(self, base: str, op: str, body: dict[str, Any]) -> dict[str, Any]:
        async with aiohttp.ClientSession() as http:
            response = await http.post(f"{base}/v1/streaming.{op}", json=body, headers=KEY, ssl=self.tls)
            payload = await response.json()
            assert response.status == 200, payload
            return payload["data"] or {}

    async def started(self, base: str, **fields: Any) -> dict[str, Any]:
        data = await self.call(base, "new", {"version": "v2", **fields})
        await self.call(base, "start", {"session_id": data["session_id"]})
        return data


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def mock(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Mock]:
    files = ensure_loopback_certificate(tmp_path_factory.mktemp("tls"))
    app = create_app(Settings(concurrency_limit=10, speech=SpeechSettings(words_per_minute=900)))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context(files)).start()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SSL_CERT_FILE", str(files.ca))  # the only CA the livekit SDK trusts
        (_, plain), (_, secure) = [address[:2] for address in runner.addresses]
        try:
            yield Mock(
                app,
                f"http://127.0.0.1:{plain}",
                f"https://127.0.0.1:{secure}",
                ssl.create_default_context(cafile=str(files.ca)),
            )
        finally:
            await runner.cleanup()


@pytest.mark.parametrize(("scheme", "quality", "codec"), [("ws", "low", "VP8"), ("wss", "medium", "H264")])
async def test_sdk_receives_the_avatar_and_its_events(mock: Mock, scheme: str, quality: str, codec: str) -> None:
    base = mock.http if scheme == "ws" else mock.https
    data = await mock.started(base, quality=quality, video_encoding=codec)
    assert data["url"].startswith(f"{scheme}://")
    session = mock.app[SERVICE].registry.find(data["session_id"])
    assert session is not None and session.state is State.CONNECTING
    tier = Settings().tiers[quality]
    heard: list[dict[str, Any]] = []
    async with AvatarRoom(on_event=heard.append) as room:
        await room.join(data["url"], data["access_token"])
        frame = await room.wait_first_frame()
        assert (frame.width, frame.height) == (tier.width, tier.height)
        await room.wait_track(rtc.TrackKind.KIND_AUDIO)
        assert session.state is State.CONNECTED
        (avatar,) = room.room.remote_participants.values()
        assert avatar.identity == "avatar" and len(avatar.track_publications) == 2
        assert room.room.local_participant.identity == "client"

        body = {"session_id": data["session_id"], "text": "Hi. Nice day.", "task_type": "repeat", "task_mode": "async"}
        task = await mock.call(base, "task", body)
        for kind in ("avatar_start_talking", "avatar_talking_message", "avatar_end_message", "avatar_stop_talking"):
            await room.wait_event(kind, task["task_id"])
        messages = [e.event["message"] for e in room.events if e.event["type"] == "avatar_talking_message"]
        assert messages == ["Hi.", "Nice day."]

        sent = time.perf_counter()
        await room.send_text("What is the weather like?")  # the SDK's talk path: the avatar answers
        reply = await room.wait_event("avatar_start_talking", after=sent, timeout=5)
        assert reply.event["task_id"] != task["task_id"]

        await mock.call(base, "stop", {"session_id": data["session_id"]})
        assert await room.wait_disconnected() == rtc.DisconnectReason.ROOM_DELETED
    assert heard == [e.event for e in room.events]
    assert mock.app[SERVICE].stats()["peer_connections"] == 0


async def test_agent_token_joins_as_another_identity(mock: Mock) -> None:
    data = await mock.started(mock.http)
    assert data["livekit_agent_token"] != data["access_token"]
    async with AvatarRoom() as room:
        await room.join(data["url"], data["livekit_agent_token"])
        assert room.room.local_participant.identity == "agent"
    await mock.call(mock.http, "stop", {"session_id": data["session_id"]})


@pytest.mark.parametrize("problem", ["expired", "foreign"])
async def test_bad_tokens_are_refused(mock: Mock, problem: str) -> None:
    data = await mock.started(mock.http)
    tokens = mock.app[SERVICE].rooms.tokens if problem == "expired" else RoomTokens(mock.app[SERVICE].clock)
    token = tokens.issue(data["session_id"], "client", ttl_s=-60 if problem == "expired" else 60)
    with pytest.raises(rtc.ConnectError):
        await rtc.Room().connect(data["url"], token, rtc.RoomOptions(connect_timeout=5.0))
    async with aiohttp.ClientSession() as http:
        response = await http.get(f"{mock.http}/rtc/validate", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 401
        reason = await response.text()
    assert ("token is expired" if problem == "expired" else "cryptographic primitive") in reason
    await mock.call(mock.http, "stop", {"session_id": data["session_id"]})
