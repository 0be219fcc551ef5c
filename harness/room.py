"""A v2 session's room as a client sees it, through the ``livekit`` SDK (the room client HeyGen's own SDKs use).

``AvatarRoom`` joins with the ``url`` and ``access_token`` of ``streaming.new`` (after ``streaming.start``),
subscribes to the avatar's video and audio, and collects the avatar's events (room data packets whose payload
is the event's JSON). Times are ``time.perf_counter()`` values, as in ``harness.media``, so callers can report
them relative to their own start (e.g. ``streaming.new`` being sent). Over ``wss://`` the SDK trusts only the
CA file named by ``SSL_CERT_FILE``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livekit import rtc


@dataclass(frozen=True, slots=True)
class RoomEvent:
    """An avatar event and when it arrived."""

    at: float
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FirstFrame:
    """The first decoded video frame: when, and its size."""

    at: float
    width: int
    height: int


class AvatarRoom:
    """One client in one session's room; ``async with AvatarRoom() as room: await room.join(url, token)``."""

    def __init__(self, on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        """``on_event`` also hears each avatar event as it arrives (e.g. ``harness.session.Session._on_event``)."""
        self.room = rtc.Room()
        self._on_event = on_event
        self.events: list[RoomEvent] = []
        self.joined_at: float | None = None
        #: Why the room closed on us (``rtc.DisconnectReason`` value), once it has.
        self.disconnect_reason: int | None = None
        self._tracks: dict[int, asyncio.Future[tuple[float, rtc.Track]]] = {}
        self._waiters: list[tuple[Callable[[dict[str, Any]], bool], asyncio.Future[RoomEvent]]] = []
        self._disconnected = asyncio.Event()
        self.room.on("track_subscribed", self._on_track)
        self.room.on("data_received", self._on_data)
        self.room.on("disconnected", self._on_disconnected)

    async def __aenter__(self) -> AvatarRoom:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.leave()

    async def join(self, url: str, token: str, timeout: float = 15.0) -> float:
        """Connect (signalling and the subscriber connection); returns when it completed."""
        await asyncio.wait_for(self.room.connect(url, token), timeout)
        self.joined_at = time.perf_counter()
        return self.joined_at

    async def wait_track(self, kind: rtc.TrackKind.ValueType, timeout: float = 10.0) -> tuple[float, rtc.Track]:
        """The avatar's track of ``kind`` (``rtc.TrackKind.KIND_VIDEO``/``KIND_AUDIO``) and when it arrived."""
        return await asyncio.wait_for(asyncio.shield(self._track_future(kind)), timeout)

    async def wait_first_frame(self, timeout: float = 10.0) -> FirstFrame:
        """Decode video until the first frame."""
        _, track = await self.wait_track(rtc.TrackKind.KIND_VIDEO, timeout)
        stream = rtc.VideoStream(track)
        try:
            frame = await asyncio.wait_for(anext(aiter(stream)), timeout)
        finally:
            await stream.aclose()
        return FirstFrame(time.perf_counter(), frame.frame.width, frame.frame.height)

    async def wait_event(
        self, event_type: str, task_id: str | None = None, *, after: float = 0.0, timeout: float = 10.0
    ) -> RoomEvent:
        """The first avatar event of ``event_type`` (and ``task_id``) received after ``after``, or yet to come."""

        def wanted(event: dict[str, Any]) -> bool:
            return event.get("type") == event_type and (task_id is None or event.get("task_id") == task_id)

        seen = next((e for e in self.events if e.at > after and wanted(e.event)), None)
        if seen is not None:
            return seen
        waiter: tuple[Callable[[dict[str, Any]], bool], asyncio.Future[RoomEvent]]
        waiter = (wanted, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter[1], timeout)
        finally:
            self._waiters.remove(waiter)

    async def wait_disconnected(self, timeout: float = 10.0) -> int | None:
        """Until the server closes the room (e.g. ``streaming.stop``); returns the reason."""
        await asyncio.wait_for(self._disconnected.wait(), timeout)
        return self.disconnect_reason

    async def send_text(self, text: str) -> None:
        """What the official SDK does to talk over the room: the text, JSON-encoded, as reliable data."""
        await self.room.local_participant.publish_data(json.dumps(text).encode(), reliable=True)

    async def leave(self) -> None:
        if self.room.isconnected():
            await self.room.disconnect()

    # ------------------------------------------------------------------------------------ callbacks

    def _track_future(self, kind: int) -> asyncio.Future[tuple[float, rtc.Track]]:
        if kind not in self._tracks:
            self._tracks[kind] = asyncio.get_running_loop().create_future()
        return self._tracks[kind]

    def _on_track(self, track: rtc.Track, _: rtc.RemoteTrackPublication, __: rtc.RemoteParticipant) -> None:
        future = self._track_future(track.kind)
        if not future.done():
            future.set_result((time.perf_counter(), track))

    def _on_data(self, packet: rtc.DataPacket) -> None:
        try:
            event = json.loads(packet.data)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        received = RoomEvent(time.perf_counter(), event)
        self.events.append(received)
        if self._on_event is not None:
            self._on_event(event)
        for wanted, future in self._waiters:
            if not future.done() and wanted(event):
                future.set_result(received)

    def _on_disconnected(self, reason: int) -> None:
        self.disconnect_reason = reason
        self._disconnected.set()
