"""Replay tracks: hand aiortc already-encoded packets with each peer's own continuous timestamps.

aiortc only packetizes an ``av.Packet`` (no encoding), so a session costs a fraction of a live
encoder. Pacing comes from a start epoch shared by a peer's video and audio, never from summed sleeps,
so timestamps do not drift and the two stay in sync.
"""

from __future__ import annotations

import asyncio
import fractions
from dataclasses import dataclass

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from mockserver.media.clips import AUDIO_PACKET_SAMPLES, AUDIO_RATE, AudioClips, ClipKind, VideoClips

#: Behind schedule by more than this (an overloaded loop), a track skips the missed slots: the receiver
#: sees a timestamp gap (a freeze), as with a real server, instead of a burst.
MAX_LAG_S = 0.2


@dataclass
class ReplayState:
    """What a peer's tracks share: the idle/talking choice and the start epoch (loop time)."""

    talking: bool = False
    epoch: float | None = None


class PacedTrack(MediaStreamTrack):
    """Paces ``recv()`` to one packet per slot of ``period`` seconds from the shared epoch."""

    def __init__(self, state: ReplayState, period: float) -> None:
        super().__init__()
        self._state = state
        self._period = period
        self._slot = -1
        self.packets_sent = 0
        self.slots_skipped = 0

    async def _next_slot(self) -> int:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._state.epoch is None:
            self._state.epoch = now
        self._slot += 1
        delay = self._state.epoch + self._slot * self._period - now
        if delay > 0:
            await asyncio.sleep(delay)
            if self.readyState != "live":
                raise MediaStreamError
        elif -delay > MAX_LAG_S:
            slot = int((now - self._state.epoch) / self._period)
            self.slots_skipped += slot - self._slot
            self._slot = slot
        self.packets_sent += 1
        return self._slot

    def _kind_wanted(self) -> ClipKind:
        return "talking" if self._state.talking else "idle"


class VideoReplayTrack(PacedTrack):
    """Loops the idle or talking clip; switches and honours keyframe requests only at keyframes.

    The clip index advances by one per frame whichever clip plays, so the burned-in counter stays
    continuous across idle/talking switches.
    """

    kind = "video"

    def __init__(self, clips: VideoClips, state: ReplayState) -> None:
        super().__init__(state, 1 / clips.fps)
        self._clips = clips
        self._time_base = fractions.Fraction(1, clips.fps)
        self._index = -1
        self._playing: ClipKind = "idle"
        self._keyframe_wanted = False
        self.keyframe_requests = 0
        self.keyframes_sent = 0

    def request_keyframe(self) -> None:
        """PLI/FIR from the receiver: cut forward to the next keyframe (replaces aiortc's no-op)."""
        self._keyframe_wanted = True
        self.keyframe_requests += 1

    async def recv(self) -> av.Packet:
        slot = await self._next_slot()
        wanted = self._kind_wanted()
        index = (self._index + 1) % len(self._clips.idle.packets)
        if self._keyframe_wanted:
            index = _next_keyframe(self._clips.clip(wanted).keyframes, index)
            self._keyframe_wanted = False
        if wanted != self._playing and self._clips.clip(wanted).keyframes[index]:
            self._playing = wanted
        clip = self._clips.clip(self._playing)
        self._index = index
        if clip.keyframes[index]:
            self.keyframes_sent += 1
        packet = av.Packet(clip.packets[index])
        packet.pts = slot
        packet.time_base = self._time_base
        return packet


class AudioReplayTrack(PacedTrack):
    """Loops Opus packets; idle<->talking switches take effect on the next 20 ms packet."""

    kind = "audio"

    def __init__(self, clips: AudioClips, state: ReplayState) -> None:
        super().__init__(state, AUDIO_PACKET_SAMPLES / AUDIO_RATE)
        self._clips = clips
        self._time_base = fractions.Fraction(1, AUDIO_RATE)

    async def recv(self) -> av.Packet:
        slot = await self._next_slot()
        clip = self._clips.clip(self._kind_wanted())
        packet = av.Packet(clip.packets[slot % len(clip.packets)])
        packet.pts = slot * AUDIO_PACKET_SAMPLES
        packet.time_base = self._time_base
        return packet


def _next_keyframe(keyframes: tuple[bool, ...], index: int) -> int:
    """The first keyframe index at or after ``index``, wrapping to the clip start."""
    for i in range(index, len(keyframes)):
        if keyframes[i]:
            return i
    return 0
