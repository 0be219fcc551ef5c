"""The SDK's chat WebSocket: ``/v1/ws/streaming.chat?session_id=..&session_token=..``.

The official SDK opens it after joining the room and waits for it to open. It sends binary protobuf frames
(``frames.Frame``): text (its default ``speak`` path: a user message the avatar answers) and 16-bit PCM from
the microphone (voice chat). The mock has no speech recognition: it finds user turns by audio energy and
tells the client ``{"event_type": "user_start" | "user_stop" | "user_silence"}``; a finished turn counts as a
user message whose text is ``VOICE_TRANSCRIPT``. ``session_token`` is the ``streaming.create_token`` token the
session was created with.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np
from aiohttp import WSMsgType, web
from google.protobuf.message import DecodeError

from mockserver.rooms.frames import Frame
from mockserver.rooms.sockets import QueuedSocket
from mockserver.sessions import Session

if TYPE_CHECKING:
    from mockserver.rooms.hub import RoomHub

logger = logging.getLogger(__name__)

#: RMS (fraction of full scale) above which a frame counts as voice: about -36 dBFS.
VOICE_THRESHOLD = 0.015
#: Quiet audio this long ends a user turn.
END_OF_TURN_S = 0.6
#: With ``silence_response=true``: quiet audio this long (outside a turn) gives ``user_silence``.
SILENCE_PROMPT_S = 8.0
VOICE_TRANSCRIPT = "(voice message)"
DEFAULT_SAMPLE_RATE = 16000


class VoiceActivity:
    """User turns from microphone audio by energy, timed by the audio itself (samples), not the wall clock."""

    def __init__(self, silence_prompt: bool) -> None:
        self.silence_prompt = silence_prompt
        self.talking = False
        self._quiet_s = 0.0
        self._silent_s = 0.0

    def feed(self, pcm: bytes, sample_rate: int) -> list[str]:
        """The chat events this frame causes, in order."""
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
        if samples.size == 0 or sample_rate <= 0:
            return []
        duration = samples.size / sample_rate
        rms = float(np.sqrt(np.mean(samples * samples))) / 32768.0
        if rms >= VOICE_THRESHOLD:
            self._quiet_s = self._silent_s = 0.0
            if not self.talking:
                self.talking = True
                return ["user_start"]
            return []
        self._quiet_s += duration
        if self.talking:
            if self._quiet_s < END_OF_TURN_S:
                return []
            self.talking = False
            self._silent_s = 0.0
            return ["user_stop"]
        if not self.silence_prompt:
            return []
        self._silent_s += duration
        if self._silent_s < SILENCE_PROMPT_S:
            return []
        self._silent_s = 0.0
        return ["user_silence"]


class ChatSockets:
    """The open chat sockets of each session, so events reach them and a closing session closes them."""

    def __init__(self) -> None:
        self._sockets: defaultdict[str, set[QueuedSocket]] = defaultdict(set)

    def add(self, session_id: str, socket: QueuedSocket) -> None:
        self._sockets[session_id].add(socket)

    def discard(self, session_id: str, socket: QueuedSocket) -> None:
        sockets = self._sockets.get(session_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._sockets[session_id]

    def send(self, session_id: str, event_type: str) -> None:
        for socket in self._sockets.get(session_id, ()):
            socket.send_json({"event_type": event_type, "session_id": session_id})

    async def close(self, session_id: str) -> None:
        for socket in list(self._sockets.pop(session_id, ())):
            await socket.close()

    def count(self) -> int:
        return sum(len(sockets) for sockets in self._sockets.values())


async def serve(ws: web.WebSocketResponse, session: Session, hub: RoomHub, silence_prompt: bool) -> None:
    """Read the SDK's frames until the socket closes; the socket is in ``hub.chat`` meanwhile."""
    socket = QueuedSocket(ws)
    hub.chat.add(session.session_id, socket)
    voice = VoiceActivity(silence_prompt)
    try:
        async for message in ws:
            if message.type != WSMsgType.BINARY:
                continue
            try:
                frame = Frame.FromString(message.data)
            except DecodeError:
                logger.info("chat %s: undecodable frame", session.session_id)
                continue
            kind = frame.WhichOneof("frame")
            if kind == "text":
                hub.user_text(session, frame.text.text)
            elif kind == "audio":
                for event in voice.feed(frame.audio.audio, frame.audio.sample_rate or DEFAULT_SAMPLE_RATE):
                    hub.user_voice(session, event)
    finally:
        hub.chat.discard(session.session_id, socket)
        await socket.close()
