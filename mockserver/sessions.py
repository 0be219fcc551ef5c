"""Sessions: the state machine, per-key limits, idle and duration timers, speech queues, usage accounting.

A session moves new -> connecting -> connected -> closing -> closed and never back. Every timer a session
owns is a handle on the injected clock, cancelled when the session closes, so nothing outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import random
import secrets
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from avatar_contract.codes import ErrorCode
from avatar_contract.models import NewSessionRequest, Quality, TaskType, VideoEncoding
from mockserver import speech
from mockserver.catalog import resolve_avatar
from mockserver.clock import Clock, TimerHandle
from mockserver.config import Settings
from mockserver.errors import ApiError, not_found, state_error
from mockserver.event_log import EventLog

EVENT_HISTORY = 200


class State(StrEnum):
    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSING = "closing"
    CLOSED = "closed"


LIVE_STATES = frozenset({State.NEW, State.CONNECTING, State.CONNECTED})
ACTIVE_STATES = frozenset({State.CONNECTING, State.CONNECTED})

EventListener = Callable[["Session", dict[str, Any]], None]
CloseListener = Callable[["Session"], Awaitable[None]]


@dataclass
class SpeechTask:
    task_id: str
    spoken_text: str
    task_type: TaskType
    duration_ms: float
    done: asyncio.Future[None]


@dataclass(slots=True)
class Session:
    """One streaming session and everything it owns."""

    session_id: str
    api_key: str
    version: str
    quality: Quality
    codec: VideoEncoding
    avatar_id: str
    voice_name: str
    voice_rate: float
    idle_timeout_s: float | None
    created_at: float
    created_mono: float
    access_token: str
    agent_token: str | None = None
    state: State = State.NEW
    closed_mono: float | None = None
    close_reason: str | None = None
    listening: bool = False
    events: EventLog = field(default_factory=lambda: EventLog(EVENT_HISTORY))
    media: Any = None
    queue: list[SpeechTask] = field(default_factory=list)
    current: SpeechTask | None = None
    current_started_mono: float | None = None
    timers: dict[str, TimerHandle] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    def require(self, op: str, allowed: frozenset[State]) -> None:
        if self.state not in allowed:
            raise state_error(self.state.value, op)

    def seconds(self, now: float) -> float:
        end = self.closed_mono if self.closed_mono is not None else now
        return max(end - self.created_mono, 0.0)

    def summary(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "status": self.state.value, "created_at": int(self.created_at)}


@dataclass
class TokenGrant:
    api_key: str
    expires_mono: float
    session_id: str | None = None


@dataclass(frozen=True)
class Principal:
    """Who is calling: the API key, and for token callers the one session the token is bound to."""

    api_key: str
    token: str | None = None

    def owns(self, session: Session, grant: TokenGrant | None) -> bool:
        if session.api_key != self.api_key:
            return False
        return self.token is None or (grant is not None and grant.session_id == session.session_id)


class SessionRegistry:
    """All sessions of the mock, by id; closed ones are kept (bounded) for history and state errors."""

    def __init__(self, settings: Settings, clock: Clock, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.rng = rng or random.Random(settings.seed)
        self._sessions: dict[str, Session] = {}
        self._by_key: defaultdict[str, dict[str, Session]] = defaultdict(dict)
        self._live_by_key: defaultdict[str, set[str]] = defaultdict(set)
        self._closed_order: deque[str] = deque()
        self._tokens: dict[str, TokenGrant] = {}
        self._token_of: dict[str, str] = {}
        self._closed_usage: dict[str, float] = {}
        self._task_ids = itertools.count(1)
        self._closing: set[asyncio.Task[None]] = set()
        self.event_listeners: list[EventListener] = []
        self.close_listeners: list[CloseListener] = []

    # --- ids, tokens, lookup ---

    def _new_id(self) -> str:
        return secrets.token_hex(16) if self.settings.seed is None else f"{self.rng.getrandbits(128):032x}"

    def issue_token(self, api_key: str) -> str:
        token = secrets.token_urlsafe(32)
        now = self.clock.monotonic()
        if len(self._tokens) % 1024 == 1023:  # now and then, forget tokens that expired unused
            for old in [t for t, g in self._tokens.items() if g.session_id is None and g.expires_mono < now]:
                del self._tokens[old]
        self._tokens[token] = TokenGrant(api_key, now + self.settings.token_ttl_s)
        return token

    def grant(self, token: str) -> TokenGrant | None:
        grant = self._tokens.get(token)
        if grant is None:
            return None
        if grant.session_id is None and self.clock.monotonic() > grant.expires_mono:
            del self._tokens[token]
            return None
        return grant

    def get(self, principal: Principal, session_id: str) -> Session:
        """The caller's session, or "not found" (also for another key's session: nothing leaks)."""
        session = self._sessions.get(session_id)
        grant = self._tokens.get(principal.token) if principal.token else None
        if session is None or not principal.owns(session, grant):
            raise not_found()
        return session

    def find(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def visible_to(self, principal: Principal) -> list[Session]:
        grant = self._tokens.get(principal.token) if principal.token else None
        return [s for s in self._by_key.get(principal.api_key, {}).values() if principal.owns(s, grant)]

    def live_count(self, api_key: str | None = None) -> int:
        if api_key is None:
            return sum(len(ids) for ids in self._live_by_key.values())
        return len(self._live_by_key.get(api_key, ()))

    def usage(self) -> dict[str, float]:
        """Session seconds per key, closed and live."""
        now = self.clock.monotonic()
        totals = dict(self._closed_usage)
        for s in self._sessions.values():
            if s.live or s.state is State.CLOSING:
                totals[s.api_key] = totals.get(s.api_key, 0.0) + s.seconds(now)
        return totals

    def timer_count(self) -> int:
        return sum(len(s.timers) for s in self._sessions.values())

    # --- lifecycle ---

    def create(self, principal: Principal, request: NewSessionRequest) -> Session:
        if principal.token is not None:
            grant = self._tokens.get(principal.token)
            if grant is None or grant.session_id is not None:
                raise ApiError(ErrorCode.UNAUTHORIZED, "unauthorized: token already used")
        avatar_id = resolve_avatar(request.requested_avatar)
        limit = self.settings.limit_for(principal.api_key)
        if self.live_count(principal.api_key) >= limit:
            raise ApiError(ErrorCode.CONCURRENT_LIMIT, f"concurrent limit reached ({limit} sessions)")
        voice = request.voice
        idle: float | None = float(request.activity_idle_timeout or self.settings.idle_timeout_default_s)
        if request.disable_idle_timeout:
            idle = None
        now = self.clock.monotonic()
        session = Session(
            session_id=self._new_id(),
            api_key=principal.api_key,
            version=request.version or "v1",
            quality=request.quality,
            codec=request.video_encoding,
            avatar_id=avatar_id,
            voice_name=(voice.voice_id if voice and voice.voice_id else request.voice_id) or "default",
            voice_rate=voice.rate if voice else 1.0,
            idle_timeout_s=idle,
            created_at=self.clock.time(),
            created_mono=now,
            access_token=secrets.token_urlsafe(24),
        )
        if principal.token is not None:
            self._tokens[principal.token].session_id = session.session_id
            self._token_of[session.session_id] = principal.token
        self._sessions[session.session_id] = session
        self._by_key[session.api_key][session.session_id] = session
        self._live_by_key[session.api_key].add(session.session_id)
        self._schedule(session, "duration", self.settings.session_duration_limit_s, "duration_limit")
        self.touch(session)
        return session

    def touch(self, session: Session) -> None:
        """Activity: restart the idle timer."""
        if session.idle_timeout_s is not None and session.live:
            self._schedule(session, "idle", session.idle_timeout_s, "idle_timeout")

    def _schedule(self, session: Session, name: str, delay: float, reason: str) -> None:
        old = session.timers.pop(name, None)
        if old is not None:
            old.cancel()
        session.timers[name] = self.clock.call_later(delay, lambda: self.close_soon(session, reason))

    def mark(self, session: Session, state: State) -> None:
        """Move forward along the state machine (never back; closing/closed are left to ``close``)."""
        order = list(State)
        if session.live and order.index(state) > order.index(session.state) and state in ACTIVE_STATES:
            session.state = state

    def close_soon(self, session: Session, reason: str) -> None:
        """Close from a timer or callback: the close runs as a task the registry keeps until it ends."""
        if not session.live:
            return
        task = asyncio.get_running_loop().create_task(self.close(session, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self, session: Session, reason: str) -> None:
        if not session.live:
            return
        session.state = State.CLOSING
        session.close_reason = reason
        self._live_by_key[session.api_key].discard(session.session_id)
        self._end_speech(session, emit=False)
        for timer in session.timers.values():
            timer.cancel()
        session.timers.clear()
        try:
            for listener in self.close_listeners:
                with contextlib.suppress(Exception):
                    await listener(session)
        finally:
            session.state = State.CLOSED
            session.closed_mono = self.clock.monotonic()
            session.events.freeze()  # closed sessions stay in the history: keep them small
            self._closed_usage[session.api_key] = self._closed_usage.get(session.api_key, 0.0) + session.seconds(
                session.closed_mono
            )
            self._closed_order.append(session.session_id)
            self._trim_history()

    async def close_all(self, reason: str = "shutdown") -> None:
        await asyncio.gather(*(self.close(s, reason) for s in self if s.live))
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def reset(self) -> None:
        await self.close_all("reset")
        self._sessions.clear()
        self._by_key.clear()
        self._live_by_key.clear()
        self._closed_order.clear()
        self._tokens.clear()
        self._token_of.clear()
        self._closed_usage.clear()

    def _trim_history(self) -> None:
        """Forget the oldest closed sessions (and their tokens) beyond ``history_limit``."""
        while len(self._closed_order) > self.settings.history_limit:
            session = self._sessions.pop(self._closed_order.popleft())
            del self._by_key[session.api_key][session.session_id]
            token = self._token_of.pop(session.session_id, None)
            if token is not None:
                self._tokens.pop(token, None)

    # --- events and speech ---

    def emit(self, session: Session, event: dict[str, Any]) -> None:
        session.events.append(event)
        for listener in self.event_listeners:
            listener(session, event)

    def speak(self, session: Session, text: str, task_type: TaskType) -> SpeechTask:
        """Queue a task; it starts when the ones before it end (after the profile's speech-start delay)."""
        spoken = text if task_type == "repeat" else speech.reply_for(text)
        task = SpeechTask(
            task_id=f"task_{next(self._task_ids)}_{self._new_id()[:8]}",
            spoken_text=spoken,
            task_type=task_type,
            duration_ms=speech.speaking_duration_ms(spoken, self.settings.speech, session.voice_rate),
            done=asyncio.get_running_loop().create_future(),
        )
        session.queue.append(task)
        self.touch(session)
        if session.current is None and "speech" not in session.timers:
            self._start_next(session)
        return task

    def _start_next(self, session: Session) -> None:
        if not session.queue or not session.live:
            return
        delay = self.settings.latency.speech_start.sample(self.rng)
        if delay <= 0:
            self._begin(session)
        else:
            session.timers["speech"] = self.clock.call_later(delay, lambda: self._begin(session))

    def _begin(self, session: Session) -> None:
        session.timers.pop("speech", None)
        if not session.queue or not session.live:
            return
        task = session.queue.pop(0)
        session.current = task
        session.current_started_mono = self.clock.monotonic()
        self.emit(session, {"type": "avatar_start_talking", "task_id": task.task_id})
        chunks = speech.message_chunks(task.spoken_text)
        total_chars = sum(len(c) for c in chunks) or 1
        offset = 0.0
        for index, chunk in enumerate(chunks):
            event = {"type": "avatar_talking_message", "task_id": task.task_id, "message": chunk}
            if index == 0:
                self.emit(session, event)
            else:
                session.timers[f"chunk{index}"] = self.clock.call_later(
                    offset / 1000, functools.partial(self._chunk, session, index, event)
                )
            offset += task.duration_ms * len(chunk) / total_chars
        session.timers["speaking"] = self.clock.call_later(task.duration_ms / 1000, lambda: self._finish(session))

    def _chunk(self, session: Session, index: int, event: dict[str, Any]) -> None:
        session.timers.pop(f"chunk{index}", None)
        self.emit(session, event)

    def _finish(self, session: Session) -> None:
        session.timers.pop("speaking", None)
        self._end_speech(session, emit=True, drop_queue=False)
        self.touch(session)
        self._start_next(session)

    def _end_speech(self, session: Session, emit: bool, drop_queue: bool = True) -> float | None:
        """Stop the current task (and the queue when ``drop_queue``); returns the spoken ms of the current task."""
        for name in [n for n in session.timers if n.startswith("chunk") or n in {"speaking", "speech"}]:
            session.timers.pop(name).cancel()
        task, spoken_ms = session.current, None
        if task is not None and session.current_started_mono is not None:
            spoken_ms = round((self.clock.monotonic() - session.current_started_mono) * 1000, 1)
            if emit:
                self.emit(session, {"type": "avatar_end_message", "task_id": task.task_id})
                self.emit(session, {"type": "avatar_stop_talking", "task_id": task.task_id, "duration_ms": spoken_ms})
            if not task.done.done():
                task.done.set_result(None)
        session.current = None
        session.current_started_mono = None
        if drop_queue:
            dropped, session.queue = session.queue, []
            for queued in dropped:
                if not queued.done.done():
                    queued.done.set_result(None)
        return spoken_ms

    def interrupt(self, session: Session) -> None:
        """End the current speech now and drop everything queued."""
        self._end_speech(session, emit=True)
        self.touch(session)
