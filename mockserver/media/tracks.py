"""Replay tracks: already-encoded clip frames with each peer's own continuous timestamps.

A track decides *what* goes out in each time slot (which clip, which frame, keyframe requests); the
lean RTP loop in ``sender`` decides *when* and sends it (``take``), or aiortc's stock loop pulls it
through ``recv``. Slots count from an epoch shared by a peer's video and audio, never from summed
sleeps, so timestamps do not drift and the two stay in sync.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import random
from dataclasses import dataclass

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from mockserver.media.clips import AUDIO_PACKET_SAMPLES, AUDIO_RATE, KINDS, AudioClips, ClipKind, VideoClips
from mockserver.media.sender import clip_payloads, vp8_payloads

#: Behind schedule by more than this (an overloaded loop), a track skips the missed slots: the receiver
#: sees a timestamp gap (a freeze), as with a real server, instead of a burst.
MAX_LAG_S = 0.2
#: Every epoch sits on this grid (one audio packet), so all sessions' frames fall due at the same
#: instants and one timer tick serves all of them.
EPOCH_GRID_S = 0.02
VIDEO_CLOCK_RATE = 90000


@dataclass
class ReplayState:
    """What a peer's tracks share: the idle/talking choice and the start epoch (loop time)."""

    talking: bool = False
    epoch: float | None = None


class ReplayTrack(MediaStreamTrack):
    """One frame per slot of ``period`` seconds from the shared epoch."""

    def __init__(self, state: ReplayState, period: float) -> None:
        super().__init__()
        self._state = state
        self.period = period
        self._slot = -1
        self.frames_sent = 0
        self.slots_skipped = 0

    def next_due(self, now: float) -> float:
        """Loop time at which the next frame is due (fixes the epoch on first use)."""
        if self._state.epoch is None:
            self._state.epoch = math.ceil(now / EPOCH_GRID_S) * EPOCH_GRID_S
        return self._state.epoch + (self._slot + 1) * self.period

    def take(self, now: float) -> tuple[list[bytes], int]:
        """The due frame's RTP payloads and timestamp (clock-rate units from the epoch)."""
        return self._frame(self._advance(now))

    async def recv(self) -> av.Packet:
        """aiortc's stock loop: wait for the slot, then the frame as one ``av.Packet``."""
        loop = asyncio.get_running_loop()
        if self.readyState == "live":
            await asyncio.sleep(max(0.0, self.next_due(loop.time()) - loop.time()))
        if self.readyState != "live":
            raise MediaStreamError
        return self._packet(self._advance(loop.time()))

    def _advance(self, now: float) -> int:
        due = self.next_due(now)
        self._slot += 1
        if now - due > MAX_LAG_S:
            assert self._state.epoch is not None
            slot = int((now - self._state.epoch) / self.period)
            self.slots_skipped += slot - self._slot
            self._slot = slot
        self.frames_sent += 1
        return self._slot

    def _kind_wanted(self) -> ClipKind:
        return "talking" if self._state.talking else "idle"

    def _frame(self, slot: int) -> tuple[list[bytes], int]:
        raise NotImplementedError

    def _packet(self, slot: int) -> av.Packet:
        raise NotImplementedError


class VideoReplayTrack(ReplayTrack):
    """Loops the idle or talking clip; switches and honours keyframe requests only at keyframes.

    The clip index advances by one per frame whichever clip plays, so the burned-in counter stays
    continuous across idle/talking switches.
    """

    kind = "video"

    def __init__(self, clips: VideoClips, state: ReplayState) -> None:
        super().__init__(state, 1 / clips.fps)
        self._clips = clips
        self._payloads = {kind: clip_payloads(clips.codec, clips.clip(kind)) for kind in KINDS}
        self._picture_id = random.getrandbits(15)
        self._index = -1
        self._playing: ClipKind = "idle"
        self._keyframe_wanted = False
        self.keyframe_requests = 0
        self.keyframes_sent = 0

    def request_keyframe(self) -> None:
        """PLI/FIR from the receiver: cut forward to the next keyframe (replaces aiortc's no-op)."""
        self._keyframe_wanted = True
        self.keyframe_requests += 1

    def _pick(self) -> None:
        """Choose the clip frame for the next slot."""
        wanted = self._kind_wanted()
        index = (self._index + 1) % len(self._clips.idle.packets)
        if self._keyframe_wanted:
            index = _next_keyframe(self._clips.clip(wanted).keyframes, index)
            self._keyframe_wanted = False
        if wanted != self._playing and self._clips.clip(wanted).keyframes[index]:
            self._playing = wanted
        self._index = index
        if self._clips.clip(self._playing).keyframes[index]:
            self.keyframes_sent += 1

    def _frame(self, slot: int) -> tuple[list[bytes], int]:
        self._pick()
        chunks = self._payloads[self._playing][self._index]
        if self._clips.codec == "VP8":
            payloads = vp8_payloads(chunks, self._picture_id)
            self._picture_id = (self._picture_id + 1) & 0x7FFF
        else:
            payloads = list(chunks)
        return payloads, slot * VIDEO_CLOCK_RATE // self._clips.fps

    def _packet(self, slot: int) -> av.Packet:
        self._pick()
        packet = av.Packet(self._clips.clip(self._playing).packets[self._index])
        packet.pts = slot
        packet.time_base = fractions.Fraction(1, self._clips.fps)
        return packet


class AudioReplayTrack(ReplayTrack):
    """Loops Opus packets; idle<->talking switches take effect on the next 20 ms packet."""

    kind = "audio"

    def __init__(self, clips: AudioClips, state: ReplayState) -> None:
        super().__init__(state, AUDIO_PACKET_SAMPLES / AUDIO_RATE)
        self._clips = clips

    def _data(self, slot: int) -> bytes:
        clip = self._clips.clip(self._kind_wanted())
        return clip.packets[slot % len(clip.packets)]

    def _frame(self, slot: int) -> tuple[list[bytes], int]:
        return [self._data(slot)], slot * AUDIO_PACKET_SAMPLES

    def _packet(self, slot: int) -> av.Packet:
        packet = av.Packet(self._data(slot))
        packet.pts = slot * AUDIO_PACKET_SAMPLES
        packet.time_base = fractions.Fraction(1, AUDIO_RATE)
        return packet


def _next_keyframe(keyframes: tuple[bool, ...], index: int) -> int:
    """The first keyframe index at or after ``index``, wrapping to the clip start."""
    for i in range(index, len(keyframes)):
        if keyframes[i]:
            return i
    return 0
