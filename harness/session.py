"""A streaming session with media, as ``async with``: open, measure, keep alive, reconnect, always stop.

``client.session(...)`` returns one. Entering creates the session (``streaming.new``), negotiates WebRTC in the
chosen flow and starts it; leaving stops the session and closes the peer, also on errors and cancellation.
Every milestone becomes a sample (docs/metrics.md): setup times relative to ``streaming.new`` being sent,
speech latencies per task, media quality per window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from avatar_contract.models import NewSessionData
from harness.errors import (
    MediaError,
    SessionNotFound,
    SessionStateError,
    StreamingError,
    error_label,
)
from harness.media import MediaReceiver, MediaStats, ReceiveMode
from harness.network import LABEL as NETWORK_LABEL
from harness.network import set_session_network

if TYPE_CHECKING:
    from harness.client import StreamingClient
    from harness.room import AvatarRoom

log = logging.getLogger(__name__)

Flow = Literal["v1", "seed", "v2", "none"]

#: What the tiers promise (the seed document's and HeyGen's tables agree on bitrates): the targets of
#: ``media.bitrate`` and ``media.fps`` samples.
TIER_BITRATE_KBPS = {"low": 500, "medium": 1000, "high": 2000}
TARGET_FPS = 25
#: Windows shorter than this at session end are not worth a media sample.
MIN_WINDOW_S = 1.0
RECONNECT_BACKOFF_S = (0.5, 8.0)
#: Events whose arrival times ``speak`` measures, and how many such times are kept for tasks not measured yet.
TIMED_EVENTS = frozenset({"avatar_start_talking", "avatar_stop_talking"})
MAX_TIMED_EVENTS = 256


@dataclass(frozen=True, slots=True)
class SpeechResult:
    """One task as the client saw it; latencies are None when not measured (no media, or timed out)."""

    task_id: str
    duration_ms: float
    event_latency_ms: float | None
    onset_latency_ms: float | None
    received_duration_ms: float | None
    interrupted: bool = False


class Session:
    """One avatar session; use ``async with client.session(...) as s``."""

    def __init__(
        self,
        client: StreamingClient,
        quality: str = "low",
        video_encoding: str = "VP8",
        flow: Flow = "v1",
        receive: ReceiveMode | None = "count",
        keep_alive_interval: float | None = None,
        *,
        reconnect: bool = False,
        max_reconnects: int = 3,
        stats_interval: float | None = 5.0,
        media_timeout: float = 10.0,
        network_profile: str | None = None,
        **new_fields: Any,
    ) -> None:
        if flow not in ("v1", "seed", "v2", "none"):
            raise ValueError(f"flow must be v1, seed, v2 or none, not {flow!r}")
        network_profile = network_profile or client.network_profile
        if network_profile is not None and flow == "none":
            raise ValueError("a network profile impairs media: it needs flow v1 or seed")
        if receive not in ("count", "decode", "wire", None):
            raise ValueError(f"receive must be count, decode, wire or None, not {receive!r}")
        self.client = client
        self.tier = quality
        self.requested_codec = video_encoding
        self.flow: Flow = flow
        self.receive: ReceiveMode | None = receive
        self.keep_alive_interval = keep_alive_interval
        self.reconnect_enabled = reconnect
        self.max_reconnects = max_reconnects
        self.stats_interval = stats_interval
        self.media_timeout = media_timeout
        #: The mock's named network conditions for this session (and its replacements after a reconnect).
        self.network_profile = network_profile
        self.new_fields = new_fields
        self.session_id: str = ""
        self.data: NewSessionData | None = None
        self.receiver: MediaReceiver | None = None
        #: The v2 flow's room (LiveKit client), and when it connected and showed its first frame.
        self.room: AvatarRoom | None = None
        self._room_milestones: dict[str, float] = {}
        self.events: list[dict[str, Any]] = []
        self.reconnects = 0
        #: Why the media stopped without us closing it ("failed"/"closed"), or None.
        self.dropped: str | None = None
        self._t_new = 0.0
        self._opened = False
        self._closing = False
        self._talking_task: str | None = None
        self._interrupted: set[str] = set()
        self._event_futures: dict[tuple[str, str], asyncio.Future[float]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._reconnect_task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None

    @property
    def hears_audio(self) -> bool:
        """Whether the received audio is decoded, so speech onset, offset and interrupts are measured."""
        return self.receive in ("count", "decode")

    @property
    def codec(self) -> str:
        """The video codec negotiated (the one requested until media is up)."""
        return (self.receiver.codec if self.receiver and self.receiver.codec else None) or self.requested_codec

    # --- context manager ---

    async def __aenter__(self) -> Session:
        try:
            await self._open()
        except BaseException:
            await _finish(self._shutdown())
            raise
        if self.keep_alive_interval:
            self._spawn(self._keep_alive_loop(self.keep_alive_interval))
        if self.stats_interval and self.receiver is not None:
            self._spawn(self._stats_loop(self.stats_interval))
        self._opened = True
        return self

    async def __aexit__(self, *_: object) -> None:
        await _finish(self._shutdown())

    # --- what a test does with a session ---

    async def wait_connected(self, timeout: float = 10.0) -> float:
        """Until the peer connection is up; returns ms since ``streaming.new`` was sent."""
        await self._settled()
        if self.room is not None:
            return (self._room_milestones["ice_connected"] - self._t_new) * 1000
        receiver = self._require_media()
        return (await receiver.wait_connected(timeout) - self._t_new) * 1000

    async def wait_first_frame(self, timeout: float = 10.0) -> float:
        """Until the first video frame; returns ms since ``streaming.new`` was sent."""
        await self._settled()
        if self.room is not None:
            return (self._room_milestones["first_frame"] - self._t_new) * 1000
        receiver = self._require_media()
        return (await receiver.wait_first_frame(timeout) - self._t_new) * 1000

    async def speak(
        self,
        text: str,
        task_type: str = "repeat",
        task_mode: str = "async",
        *,
        wait_end: bool = True,
        timeout: float | None = None,
    ) -> SpeechResult:
        """Send a task and measure it: start event, audio onset and (``wait_end``) the received duration.

        ``timeout`` bounds each wait (default: ``media_timeout``, plus the speech's own duration for its end).
        """
        await self._settled()
        receiver = self.receiver
        if receiver is None and self.room is None:
            data = await self.client.task(self.session_id, text, task_type, task_mode)
            return SpeechResult(data.task_id, data.duration_ms, None, None, None)
        with receiver.listening() if receiver is not None else contextlib.nullcontext():
            result = await self._measure_speech(receiver, text, task_type, task_mode, wait_end, timeout)
        for kind in TIMED_EVENTS:
            self._event_futures.pop((kind, result.task_id), None)
        return result

    async def _measure_speech(
        self,
        receiver: MediaReceiver | None,
        text: str,
        task_type: str,
        task_mode: str,
        wait_end: bool,
        timeout: float | None,
    ) -> SpeechResult:
        session_id = self.session_id
        sent = time.perf_counter()
        data = await self.client.task(session_id, text, task_type, task_mode)
        wait = timeout if timeout is not None else self.media_timeout
        started = await self._event_at("avatar_start_talking", data.task_id, wait)
        event_ms = self._latency("speech.event", sent, started, session_id)
        onset_ms: float | None = None
        onset_at: float | None = None
        if receiver is not None and self.hears_audio:  # (the v2 room's audio is not analysed)
            onset = await receiver.wait_transition("onset", sent, wait)
            onset_at = onset.at if onset is not None else None
            onset_ms = self._latency("speech.onset", sent, onset_at, session_id)
        received_ms: float | None = None
        if wait_end:
            end_wait = wait + data.duration_ms / 1000
            await self._event_at("avatar_stop_talking", data.task_id, end_wait)
            if receiver is not None and onset_at is not None:
                offset = await receiver.wait_transition("offset", onset_at, wait)
                if offset is not None:
                    received_ms = (offset.at - onset_at) * 1000
            interrupted = data.task_id in self._interrupted
            if received_ms is not None and not interrupted:
                self.client.record("speech.duration_error", received_ms - data.duration_ms, "ms", session_id=session_id)
        return SpeechResult(
            data.task_id, data.duration_ms, event_ms, onset_ms, received_ms, data.task_id in self._interrupted
        )

    async def interrupt(self) -> float | None:
        """Interrupt the current speech; returns (and records) ms until the received audio is silent again.

        None when there was no speech in the received audio to interrupt, or without audio measurement.
        """
        await self._settled()
        receiver = self.receiver
        was_talking = receiver is not None and self.hears_audio and receiver.talking
        if self._talking_task is not None:
            self._interrupted.add(self._talking_task)
        if receiver is None or not was_talking:
            await self.client.interrupt(self.session_id)
            return None
        with receiver.listening():
            sent = time.perf_counter()
            await self.client.interrupt(self.session_id)
            offset = await receiver.wait_transition("offset", sent, self.media_timeout)
        return self._latency("interrupt.latency", sent, offset.at if offset else None, self.session_id, floor=True)

    async def keep_alive(self) -> None:
        await self._settled()
        await self.client.keep_alive(self.session_id)

    def media_stats(self) -> MediaStats:
        """Received media since the first frame (zeros without media)."""
        if self.receiver is None:
            return MediaReceiver.empty_stats()
        return self.receiver.stats()

    # --- opening ---

    async def _open(self) -> None:
        fields = {"quality": self.tier, "video_encoding": self.requested_codec, **self.new_fields}
        if self.flow == "v2":
            fields.setdefault("version", "v2")
        self._t_new = time.perf_counter()
        try:
            self.data = await self.client.new_session(**fields)
        except StreamingError as exc:
            self.client.record("session.create", None, "ms", False, exc.label)
            raise
        self.session_id = self.data.session_id
        if self.network_profile is not None:
            self.client.relabel(self.session_id, **{NETWORK_LABEL: self.network_profile})
        self._record("session.create", (time.perf_counter() - self._t_new) * 1000)
        await self._start_media(self.data)

    async def _start_media(self, data: NewSessionData) -> None:
        if self.flow == "none":
            await self._timed_start(None)
            return
        if self.flow == "v2":
            await self._join_room(data)
            return
        self.receiver = receiver = MediaReceiver(
            data.ice_servers or [], self.receive, self._on_event, self._on_drop, self._on_milestone
        )
        if self.flow == "v1":
            if data.sdp is None or data.sdp.type != "offer":
                raise MediaError("streaming.new returned no SDP offer (is the service's media plane enabled?)")
            # The mock's peer exists: impair its network before any packet (while our answer is being made).
            answer, _ = await asyncio.gather(receiver.answer(data.sdp.sdp), self._apply_network())
            await self._timed_start({"type": "answer", "sdp": answer})
            # aiortc puts its candidates in the SDP; tell the service there are no more (end-of-candidates).
            await self.client.ice(self.session_id, {"candidate": "", "sdpMid": None, "sdpMLineIndex": 0})
        else:
            started = await self._timed_start({"type": "offer", "sdp": await receiver.offer()})
            if started is None:
                raise MediaError("streaming.start returned no SDP answer to the client's offer")
            await self._apply_network()  # streaming.start made the peer that serves our offer
            await receiver.accept_answer(started)
        self.client.relabel(self.session_id, codec=self.codec)

    async def _apply_network(self) -> None:
        """Have the mock impair this session's network with the profile (mock targets only)."""
        if self.network_profile is not None:
            await set_session_network(self.client.base_url, self.session_id, self.network_profile)

    async def _join_room(self, data: NewSessionData) -> None:
        """v2: start the session, then join its room the way HeyGen's SDKs do (the ``livekit`` client)."""
        from harness.room import AvatarRoom  # the livekit SDK is only needed for this flow

        await self._timed_start(None)
        self.room = AvatarRoom(on_event=self._on_event)
        for name, at in (
            ("ice_connected", await self.room.join(data.url, data.access_token, self.media_timeout)),
            ("first_frame", (await self.room.wait_first_frame(self.media_timeout)).at),
        ):
            self._room_milestones[name] = at
            self._on_milestone(name, at)

    async def _timed_start(self, sdp: dict[str, Any] | None) -> str | None:
        t0 = time.perf_counter()
        try:
            started = await self.client.start(self.session_id, sdp)
        except StreamingError as exc:
            self._record("session.start", None, exc)
            raise
        self._record("session.start", (time.perf_counter() - t0) * 1000)
        return started.sdp.sdp if started.sdp is not None else None

    # --- receiver callbacks ---

    def _on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        kind, task_id = event.get("type"), event.get("task_id")
        if kind == "avatar_start_talking":
            self._talking_task = task_id if isinstance(task_id, str) else None
        elif kind == "avatar_stop_talking" and task_id == self._talking_task:
            self._talking_task = None
        if kind in TIMED_EVENTS and isinstance(task_id, str):
            future = self._event_future(kind, task_id)
            if not future.done():
                future.set_result(time.perf_counter())

    def _on_milestone(self, name: str, at: float) -> None:
        self._record(f"session.{name}", (at - self._t_new) * 1000)

    def _on_drop(self, state: str) -> None:
        self.dropped = state
        log.info("session %s: media %s", self.session_id, state)
        if self.reconnect_enabled and self._opened and not self._closing:
            self._start_reconnect()

    # --- background work ---

    async def _keep_alive_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self._settled()
            try:
                await self.client.keep_alive(self.session_id)
            except (SessionStateError, SessionNotFound):
                if not self.reconnect_enabled:
                    return  # the service closed the session; the sample says so
                self._start_reconnect()
            except StreamingError as exc:
                log.info("keep_alive failed: %s", exc)

    async def _stats_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self._record_window()

    def _record_window(self, final: bool = False) -> None:
        receiver = self.receiver
        if receiver is None or receiver.video.first is None:
            return
        window = receiver.stats(window=True)
        if final and window.seconds < MIN_WINDOW_S:
            return
        target = TIER_BITRATE_KBPS.get(self.tier)
        self._record("media.bitrate", window.bitrate_kbps, unit="kbps", target=target)
        self._record("media.fps", window.fps, unit="fps", target=TARGET_FPS)
        self._record("media.freezes", window.freezes, unit="count", target=0)
        self._record("media.packet_loss", window.packet_loss_percent, unit="percent", target=0)
        self._record("media.jitter", window.jitter_ms, unit="ms")

    def _start_reconnect(self) -> None:
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        """Replace a dropped session by a new one (the id changes), with exponential backoff and jitter."""
        t0 = time.perf_counter()
        delay, cap = RECONNECT_BACKOFF_S
        last: BaseException | None = None
        for _attempt in range(self.max_reconnects):
            await self._drop_current()
            try:
                await self._open()
                assert self.receiver is not None or self.flow == "none"
                if self.receiver is not None:
                    await self.receiver.wait_connected(self.media_timeout)
            except (StreamingError, OSError) as exc:
                last = exc
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, cap)
                continue
            self.reconnects += 1
            self.dropped = None
            self._record("session.reconnect", (time.perf_counter() - t0) * 1000)
            return
        self._failure = last or MediaError("reconnect failed")
        self._record("session.reconnect", None, self._failure)

    async def _drop_current(self) -> None:
        """Close what is left of the current session before opening its replacement."""
        receiver, self.receiver = self.receiver, None
        if receiver is not None:
            receiver.closing = True
            await receiver.close()
        if self.session_id in self.client.open_sessions:
            with contextlib.suppress(StreamingError):
                await self.client.stop(self.session_id)

    async def _settled(self) -> None:
        """Wait out a reconnect in progress; raise if the session could not be recovered."""
        task = self._reconnect_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            await asyncio.shield(task)
        if self._failure is not None:
            raise self._failure

    # --- closing ---

    async def _shutdown(self) -> None:
        self._closing = True
        tasks = [t for t in (*self._background, self._reconnect_task) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        receiver = self.receiver
        if receiver is not None:
            receiver.closing = True
            self._record_window(final=True)
            self._record_missing(receiver)
        if self.session_id:
            await self._stop()
        if receiver is not None:
            await receiver.close()
        if self.room is not None:
            await self.room.leave()
        for future in self._event_futures.values():
            future.cancel()

    async def _stop(self) -> None:
        t0 = time.perf_counter()
        try:
            await self.client.stop(self.session_id)
        except (SessionStateError, SessionNotFound):
            return  # already closed by the service (timeout, kill, drop): nothing left to stop
        except StreamingError as exc:
            self._record("session.stop", None, exc)
            log.warning("could not stop session %s: %s", self.session_id, exc)
            return
        self._record("session.stop", (time.perf_counter() - t0) * 1000)

    def _record_missing(self, receiver: MediaReceiver) -> None:
        """Setup milestones that never happened count as failures of their metric."""
        missing = {
            "session.ice_connected": receiver.ice_connected_at,
            "session.first_frame": receiver.video.first,
            "session.first_audio": receiver.first_audio_at,
        }
        for metric, at in missing.items():
            if at is None:
                self.client.record(metric, None, "ms", False, "NotReceived", self.session_id)

    # --- helpers ---

    def _require_media(self) -> MediaReceiver:
        if self.receiver is None:
            raise MediaError(f"session flow {self.flow!r} has no media")
        return self.receiver

    def _event_future(self, kind: str, task_id: str) -> asyncio.Future[float]:
        """Where the arrival time of an event goes; events may arrive before ``streaming.task`` answers."""
        key = (kind, task_id)
        future = self._event_futures.get(key)
        if future is None:
            future = self._event_futures[key] = asyncio.get_running_loop().create_future()
            while len(self._event_futures) > MAX_TIMED_EVENTS:  # events of tasks nobody measures
                self._event_futures.pop(next(iter(self._event_futures))).cancel()
        return future

    async def _event_at(self, kind: str, task_id: str, timeout: float) -> float | None:
        """When event ``kind`` for ``task_id`` arrived (perf_counter), waiting up to ``timeout``; None if never."""
        future = self._event_future(kind, task_id)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return None

    def _latency(
        self, metric: str, sent: float, at: float | None, session_id: str, floor: bool = False
    ) -> float | None:
        """Record ``at - sent`` in ms (a Timeout failure when ``at`` is None) and return it."""
        if at is None:
            self.client.record(metric, None, "ms", False, "Timeout", session_id)
            return None
        value = (at - sent) * 1000
        value = max(value, 0.0) if floor else value
        self.client.record(metric, value, "ms", session_id=session_id)
        return value

    def _record(
        self, metric: str, value: float | None, error: BaseException | None = None, unit: str = "ms", **labels: Any
    ) -> None:
        ok = error is None and value is not None
        label = error_label(error) if error is not None else None
        self.client.record(metric, value, unit, ok, label, self.session_id or None, **labels)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


async def _finish(coro: Awaitable[None]) -> None:
    """Run clean-up to the end even if the caller is cancelled meanwhile; re-raise that cancellation after."""
    task = asyncio.ensure_future(coro)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task})
        raise
