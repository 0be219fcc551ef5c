"""The realtime endpoint (``realtime_endpoint`` of a v2 session): voice-agent frameworks drive the avatar with audio.

JSON messages in: ``agent.speak`` (base64 PCM16 mono 24 kHz, appended to the avatar's playback), ``agent.speak_end``
(the utterance is complete), ``agent.interrupt``, ``agent.start_listening``, ``agent.stop_listening``,
``session.keep_alive``. Out: ``session.state_updated`` (``connected`` first, ``closed`` at the end) and
``agent.state_updated {previous_state, new_state}`` (idle | listening | speaking).

The audio received is what the avatar speaks: an utterance starts with its first chunk and lasts as long as
its audio plays from then (on the mock's clock), so the talking video, ``avatar_start_talking`` and
``avatar_stop_talking`` (room data packets) follow the audio's duration.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from mockserver.clock import TimerHandle
from mockserver.rooms.sockets import QueuedSocket
from mockserver.sessions import ACTIVE_STATES, Session, SessionRegistry

logger = logging.getLogger(__name__)

SAMPLE_RATE = 24000
BYTES_PER_SAMPLE = 2
#: Audio that runs out without ``agent.speak_end`` ends the utterance this much later.
UNDERRUN_GRACE_S = 1.0
_utterances = itertools.count(1)


class RealtimeAgent:
    """The avatar as one session's realtime socket drives it."""

    def __init__(self, session: Session, registry: SessionRegistry, socket: QueuedSocket) -> None:
        self.session = session
        self.socket = socket
        self._registry = registry
        self._clock = registry.clock
        self.state = "listening" if session.listening else "idle"
        self._task_id: str | None = None
        self._started = 0.0
        self._buffered_s = 0.0
        self._ended = False
        self._timer: TimerHandle | None = None

    def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        event_id = message.get("event_id")
        if kind == "agent.speak":
            self._speak(message.get("audio"), event_id if isinstance(event_id, str) else None)
        elif kind == "agent.speak_end":
            self._speak_end()
        elif kind == "agent.interrupt":
            self._stop_utterance()
            self._registry.interrupt(self.session)
        elif kind in ("agent.start_listening", "agent.stop_listening"):
            self._listen(kind == "agent.start_listening")
        elif kind == "session.keep_alive":
            self._registry.touch(self.session)
        else:
            logger.info("realtime %s: ignoring message type %r", self.session.session_id, str(kind)[:40])

    def close(self) -> None:
        """The socket is gone or the session ended: an utterance still playing ends now."""
        self._stop_utterance()

    # ------------------------------------------------------------------------------------- speaking

    def _speak(self, audio: Any, event_id: str | None) -> None:
        if self.session.state not in ACTIVE_STATES or not isinstance(audio, str):
            return
        try:
            pcm = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            logger.info("realtime %s: agent.speak audio is not base64", self.session.session_id)
            return
        if self._task_id is None:
            self._task_id = event_id or f"realtime_{next(_utterances)}"
            self._started = self._clock.monotonic()
            self._buffered_s = 0.0
            self._ended = False
            self._registry.emit(self.session, {"type": "avatar_start_talking", "task_id": self._task_id})
            self._set_state("speaking")
        self._buffered_s += len(pcm) / (SAMPLE_RATE * BYTES_PER_SAMPLE)
        self._registry.touch(self.session)
        self._schedule_end()

    def _speak_end(self) -> None:
        if self._task_id is not None:
            self._ended = True
            self._schedule_end()

    def _schedule_end(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        played_out = self._started + self._buffered_s
        at = played_out if self._ended else played_out + UNDERRUN_GRACE_S
        self._timer = self._clock.call_later(max(at - self._clock.monotonic(), 0.0), self._stop_utterance)

    def _stop_utterance(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task_id, self._task_id = self._task_id, None
        if task_id is None:
            return
        spoken_ms = round(min(self._clock.monotonic() - self._started, self._buffered_s) * 1000, 1)
        if self.session.live:
            stop = {"type": "avatar_stop_talking", "task_id": task_id, "duration_ms": spoken_ms}
            self._registry.emit(self.session, stop)
        self._set_state("listening" if self.session.listening else "idle")

    # ------------------------------------------------------------------------------------ listening

    def _listen(self, listening: bool) -> None:
        if self.session.state not in ACTIVE_STATES:
            return
        if self.session.listening != listening:
            self.session.listening = listening
            kind = "avatar_start_listening" if listening else "avatar_stop_listening"
            self._registry.emit(self.session, {"type": kind})
        self._registry.touch(self.session)
        if self._task_id is None:
            self._set_state("listening" if listening else "idle")

    def _set_state(self, new_state: str) -> None:
        if new_state != self.state:
            previous, self.state = self.state, new_state
            self.socket.send_json({"type": "agent.state_updated", "previous_state": previous, "new_state": new_state})


class RealtimeAgents:
    """One realtime socket per session: a new connection replaces the old one."""

    def __init__(self) -> None:
        self._agents: dict[str, RealtimeAgent] = {}

    async def attach(self, agent: RealtimeAgent) -> None:
        old = self._agents.get(agent.session.session_id)
        self._agents[agent.session.session_id] = agent
        if old is not None:
            old.close()
            await old.socket.close()

    def detach(self, agent: RealtimeAgent) -> None:
        if self._agents.get(agent.session.session_id) is agent:
            del self._agents[agent.session.session_id]
        agent.close()

    async def close(self, session_id: str) -> None:
        agent = self._agents.pop(session_id, None)
        if agent is not None:
            agent.close()
            agent.socket.send_json({"type": "session.state_updated", "state": "closed"})
            await agent.socket.close()

    def count(self) -> int:
        return len(self._agents)


async def serve(ws: web.WebSocketResponse, agent: RealtimeAgent, agents: RealtimeAgents) -> None:
    """``session.state_updated`` (connected), then the client's messages until the socket closes."""
    await agents.attach(agent)
    agent.socket.send_json({"type": "session.state_updated", "state": "connected"})
    try:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                payload = json.loads(message.data)
            except ValueError:
                logger.info("realtime %s: message is not JSON", agent.session.session_id)
                continue
            if isinstance(payload, dict):
                agent.handle(payload)
    finally:
        agents.detach(agent)
        await agent.socket.close()
