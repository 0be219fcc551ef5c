"""The LiveKit signalling endpoint at protocol level: an aiortc client speaking ``SignalRequest``/``SignalResponse``.

Join response first, the subscriber offer without candidates (trickled after it), msid ``PA_..|TR_..``,
ping/pong, the answer connecting the session, avatar events as data packets on ``_reliable``, client data
through the publisher connection, ``leave`` on stop, resume refused, duplicate identities replaced, and
LiveKit's HTTP refusals.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient, TestServer
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp
from livekit.protocol import models, rtc

from mockserver.app import create_app
from mockserver.config import Settings, SpeechSettings
from mockserver.sessions import Session, State
from tests.mockserver.helpers import call
from tests.mockserver.rooms.helpers import service_of

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def api() -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(create_app(Settings(speech=SpeechSettings(words_per_minute=900)))))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


class Signal:
    """The client end of ``/rtc``: requests out, responses in (kept, so nothing is missed while waiting)."""

    def __init__(self, ws: ClientWebSocketResponse) -> None:
        self.ws = ws
        self.received: list[rtc.SignalResponse] = []

    async def send(self, **message: Any) -> None:
        await self.ws.send_bytes(rtc.SignalRequest(**message).SerializeToString())

    async def next(self, kind: str, timeout: float = 5.0) -> rtc.SignalResponse:
        """The first response of ``kind`` not yet taken."""
        async with asyncio.timeout(timeout):
            while True:
                for i, response in enumerate(self.received):
                    if response.WhichOneof("message") == kind:
                        return self.received.pop(i)
                message = await self.ws.receive()
                if message.type != WSMsgType.BINARY:
                    raise AssertionError(f"socket ended while waiting for {kind}: {message.type}")
                self.received.append(rtc.SignalResponse.FromString(message.data))

    async def trickles(self, target: int, count: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while len(found) < count:
            trickle = (await self.next("trickle")).trickle
            assert trickle.target == target
            found.append(json.loads(trickle.candidateInit))
        return found


async def _started(api: TestClient) -> tuple[Session, dict[str, Any]]:
    data = (await call(api, "new", {"version": "v2", "quality": "low"}))[1]["data"]
    assert (await call(api, "start", {"session_id": data["session_id"]}))[0] == 200
    session = service_of(api).registry.find(data["session_id"])
    assert session is not None
    return session, data


async def _join(api: TestClient, token: str, query: str = "") -> Signal:
    return Signal(await api.ws_connect(f"/rtc?access_token={token}&auto_subscribe=1&sdk=js&protocol=15{query}"))


async def _apply_remote(pc: RTCPeerConnection, sdp: str, kind: str, candidates: list[dict[str, Any]]) -> None:
    await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
    for init in candidates:
        candidate = candidate_from_sdp(init["candidate"].removeprefix("candidate:"))
        candidate.sdpMid = init["sdpMid"]
        await pc.addIceCandidate(candidate)


async def _subscribe(signal: Signal) -> tuple[RTCPeerConnection, dict[str, RTCDataChannel]]:
    """Answer the subscriber offer like a client; returns the connection and the server's channels by label."""
    offer = (await signal.next("offer")).offer
    pc = RTCPeerConnection()
    channels: dict[str, RTCDataChannel] = {}
    pc.on("datachannel", lambda channel: channels.__setitem__(channel.label, channel))
    await _apply_remote(pc, offer.sdp, "offer", await signal.trickles(rtc.SUBSCRIBER, 1))
    await pc.setLocalDescription(await pc.createAnswer())
    await signal.send(answer=rtc.SessionDescription(type="answer", sdp=pc.localDescription.sdp, id=offer.id))
    return pc, channels


async def _until(condition: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_join_offer_trickle_ping_and_connect(api: TestClient) -> None:
    session, data = await _started(api)
    assert session.state is State.CONNECTING
    signal = await _join(api, data["access_token"])
    join = (await signal.next("join")).join
    assert signal.received == []  # the join came first
    assert (join.room.name, join.participant.identity) == (session.session_id, "client")
    assert join.room.sid.startswith("RM_") and join.participant.sid.startswith("PA_")
    assert join.subscriber_primary and join.ping_interval > 0 and join.ping_timeout > 0
    (avatar,) = join.other_participants
    video, audio = avatar.tracks
    assert (avatar.identity, avatar.state) == ("avatar", models.ParticipantInfo.ACTIVE)
    assert (video.type, video.width, video.height, video.source) == (models.VIDEO, 854, 480, models.CAMERA)
    assert (audio.type, audio.mime_type) == (models.AUDIO, "audio/opus")

    offer = (await signal.next("offer")).offer
    assert "a=candidate:" not in offer.sdp
    assert sorted(re.findall(r"a=msid:(\S+) (\S+)", offer.sdp)) == sorted(
        [(f"{avatar.sid}|{track.sid}", track.sid) for track in (video, audio)]
    )
    signal.received.append(rtc.SignalResponse(offer=offer))  # hand it to _subscribe
    (candidate,) = await signal.trickles(rtc.SUBSCRIBER, 1)
    assert " 127.0.0.1 " in candidate["candidate"] and candidate["sdpMid"] == "0"
    trickle = rtc.TrickleRequest(candidateInit=json.dumps(candidate), target=rtc.SUBSCRIBER)
    signal.received.append(rtc.SignalResponse(trickle=trickle))

    await signal.send(ping_req=rtc.Ping(timestamp=1234))
    assert (await signal.next("pong_resp")).pong_resp.last_ping_timestamp == 1234
    await signal.send(ping=99)
    assert (await signal.next("pong")).pong > 0

    pc, channels = await _subscribe(signal)
    try:
        await _until(lambda: pc.connectionState == "connected" and session.state is State.CONNECTED)
        await _until(lambda: {"_reliable", "_lossy"} <= channels.keys())
        packets: list[models.DataPacket] = []
        channels["_reliable"].on("message", lambda data: packets.append(models.DataPacket.FromString(data)))
        body = {"session_id": session.session_id, "text": "Hello.", "task_type": "repeat", "task_mode": "async"}
        task_id = (await call(api, "task", body))[1]["data"]["task_id"]
        await _until(lambda: len(packets) >= 4)
        first = packets[0]
        assert (first.participant_identity, first.user.participant_sid) == ("avatar", avatar.sid)
        assert json.loads(first.user.payload) == {"type": "avatar_start_talking", "task_id": task_id}

        await call(api, "stop", {"session_id": session.session_id})
        leave = (await signal.next("leave")).leave
        assert (leave.reason, leave.action) == (models.ROOM_DELETED, rtc.LeaveRequest.DISCONNECT)
        assert (await signal.ws.receive()).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
        assert service_of(api).stats()["peer_connections"] == 0
    finally:
        await pc.close()


async def test_client_data_goes_through_the_publisher_connection(api: TestClient) -> None:
    session, data = await _started(api)
    signal = await _join(api, data["access_token"])
    subscriber, _ = await _subscribe(signal)
    publisher = RTCPeerConnection()
    try:
        channel = publisher.createDataChannel("_reliable")
        await publisher.setLocalDescription(await publisher.createOffer())
        # Clients may trickle a publisher candidate before its offer: it is held until the offer arrives.
        line = next(x for x in publisher.localDescription.sdp.splitlines() if x.startswith("a=candidate:"))
        init = {"candidate": line[2:], "sdpMid": "0", "sdpMLineIndex": 0}
        await signal.send(trickle=rtc.TrickleRequest(candidateInit=json.dumps(init), target=rtc.PUBLISHER))
        await signal.send(offer=rtc.SessionDescription(type="offer", sdp=publisher.localDescription.sdp, id=7))
        answer = (await signal.next("answer")).answer
        assert answer.id == 7 and "a=candidate:" not in answer.sdp
        await _apply_remote(publisher, answer.sdp, "answer", await signal.trickles(rtc.PUBLISHER, 1))
        await _until(lambda: channel.readyState == "open")
        user = models.UserPacket(payload=json.dumps("What can you do?").encode())
        channel.send(models.DataPacket(kind=models.DataPacket.RELIABLE, user=user).SerializeToString())
        await _until(lambda: any(e["type"] == "avatar_start_talking" for e in session.events))
    finally:
        await publisher.close()
        await subscriber.close()
        await call(api, "stop", {"session_id": session.session_id})


async def test_resume_is_refused_and_duplicates_replaced(api: TestClient) -> None:
    session, data = await _started(api)
    first = await _join(api, data["access_token"])
    sid = (await first.next("join")).join.participant.sid
    resume = await _join(api, data["access_token"], f"&reconnect=1&sid={sid}")
    leave = (await resume.next("leave")).leave
    assert leave.action == rtc.LeaveRequest.RECONNECT
    with pytest.raises(AssertionError, match="socket ended"):  # the stale participant is dropped
        await first.next("leave")

    one = await _join(api, data["access_token"])
    await one.next("join")
    two = await _join(api, data["access_token"])
    await two.next("join")
    assert (await one.next("leave")).leave.reason == models.DUPLICATE_IDENTITY
    await call(api, "stop", {"session_id": session.session_id})
    assert (await two.next("leave")).leave.reason == models.ROOM_DELETED


async def test_refusals_read_like_livekit(api: TestClient) -> None:
    session, data = await _started(api)
    token = data["access_token"]
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
    upgrade["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ=="

    async def get(path: str, **headers: str) -> tuple[int, str]:
        response = await api.get(path, headers={**upgrade, **headers})
        return response.status, await response.text()

    assert await get("/rtc") == (401, "no permissions to access the room")
    assert await get("/rtc", Authorization=f"Basic {token}") == (
        401,
        "invalid authorization header. Must start with Bearer ",
    )
    assert (await get(f"/rtc/v1?join_request=x&access_token={token}"))[0] == 404  # newer SDKs fall back on 404
    assert (await api.get(f"/rtc?access_token={token}")).status == 404  # not a WebSocket upgrade
    assert await get("/rtc/validate", Authorization=f"Bearer {token}") == (200, "success")
    await call(api, "stop", {"session_id": session.session_id})
    assert await get("/rtc", Authorization=f"Bearer {token}") == (404, "requested room does not exist")
    unstarted = (await call(api, "new", {"version": "v2"}))[1]["data"]
    assert (await get(f"/rtc/validate?access_token={unstarted['access_token']}"))[0] == 404
    await call(api, "stop", {"session_id": unstarted["session_id"]})
