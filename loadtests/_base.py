"""The base user every scenario shares: a harness ``StreamingClient`` driven through the asyncio bridge.

A scenario is an ordinary locust ``User`` (tags, weights, ``wait_time`` as usual). Its tasks build coroutines
against the harness and hand them to ``call``, which waits cooperatively on the bridge. The harness records
every measurement itself; ``loadtests._runtime`` turns those samples into locust statistics and run-file lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any, ClassVar, TypeVar

from locust import User, between

from harness.client import StreamingClient
from harness.errors import StreamingError
from harness.session import Session
from loadtests._runtime import Runtime, SessionOptions, runtime

log = logging.getLogger("loadtests")

T = TypeVar("T")

#: The bridge's own bound on one call: a safety net above the harness's timeouts, never the measurement.
CALL_TIMEOUT_S = 120.0
#: How long a user waits for one of the capped real-service session slots.
SLOT_TIMEOUT_S = 60.0
#: How long ``on_stop`` lets cancelled calls wind down (they stop their sessions) before closing the client.
DRAIN_TIMEOUT_S = 10.0


class StreamingUser(User):
    """One simulated client of the streaming API; subclasses set ``scenario`` and define tagged tasks."""

    abstract = True
    scenario: ClassVar[str] = ""
    wait_time = between(1, 3)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.rt: Runtime = runtime()
        self.opts: SessionOptions = self.rt.session_options()
        self.client: StreamingClient | None = None
        #: The session held across tasks (``hold_session``), and what closes it.
        self.session: Session | None = None
        self._held: contextlib.AsyncExitStack | None = None
        #: Tasks this user started on the loop (only touched there), drained in ``on_stop``.
        self._scope: set[asyncio.Task[Any]] = set()

    # --- locust hooks ---

    def on_start(self) -> None:
        self.client = self.rt.new_client(self.scenario)

    def on_stop(self) -> None:
        """Cancel what is in flight, close the held session, close the client (stops anything left open)."""
        self.rt.bridge.drain(self._scope, DRAIN_TIMEOUT_S)
        self.drop_session()
        if self.client is not None:
            self.rt.release_client(self.client)
            self.client = None

    # --- running harness code ---

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT_S) -> T:
        """Run a coroutine on the bridge and wait for it cooperatively (a kill of this user cancels it)."""
        return self.rt.bridge.run(coro, timeout, self._scope)

    def attempt(self, coro: Coroutine[Any, Any, Any], timeout: float = CALL_TIMEOUT_S) -> bool:
        """``call``; a service error returns False (the harness has already recorded it as a failed sample)."""
        try:
            self.call(coro, timeout)
        except StreamingError as exc:
            log.debug("%s: %s", type(self).__name__, exc)
            return False
        return True

    @contextlib.asynccontextmanager
    async def open_session(self, **overrides: Any) -> AsyncIterator[Session]:
        """A session with the run's settings (overridable); on the real service it first takes a capped slot."""
        client = self.client
        if client is None:
            raise RuntimeError("the user has no client (on_start has not run)")
        opts = self.opts
        settings: dict[str, Any] = {
            "quality": opts.quality,
            "video_encoding": opts.codec,
            "flow": opts.flow,
            "receive": opts.receive,
            "keep_alive_interval": None,
            "stats_interval": None,
            "media_timeout": opts.media_timeout,
        }
        settings.update(overrides)
        slot = await self.rt.acquire_slot(SLOT_TIMEOUT_S)
        try:
            session = client.session(**settings)
            await _enter_to_the_end(session)
            try:
                yield session
            finally:
                await session.__aexit__(None, None, None)
        finally:
            if slot:
                self.rt.release_slot()

    def hold_session(self, **overrides: Any) -> Session | None:
        """Open a session kept across tasks (closed by ``drop_session``/``on_stop``), with media up.

        Returns None when it could not be opened; the failure is already a sample.
        """

        async def enter() -> tuple[contextlib.AsyncExitStack, Session]:
            stack = contextlib.AsyncExitStack()
            try:
                settings = {
                    "keep_alive_interval": self.opts.keep_alive_s,
                    "stats_interval": self.opts.media_window,
                    **overrides,
                }
                session = await stack.enter_async_context(self.open_session(**settings))
                if session.receiver is not None:
                    await session.wait_first_frame(self.opts.media_timeout)
            except BaseException:
                await stack.aclose()
                raise
            return stack, session

        self.drop_session()
        try:
            self._held, self.session = self.call(enter())
        except StreamingError as exc:
            log.debug("%s: no session: %s", type(self).__name__, exc)
        return self.session

    def drop_session(self) -> None:
        """Close the held session (stops it on the service), if any."""
        stack, self._held, self.session = self._held, None, None
        if stack is not None:
            with contextlib.suppress(StreamingError, TimeoutError):
                self.call(stack.aclose(), DRAIN_TIMEOUT_S + 5)


async def _enter_to_the_end(session: Session) -> None:
    """Open ``session`` even if the caller is cancelled meanwhile (end of run, Ctrl-C), then re-raise.

    A ``streaming.new`` cut off mid-flight may still create a session whose id we never learn, left running
    (and, on the real service, billed) until its idle timeout. Letting the setup finish means the id is known
    and the session is stopped: here on cancellation, or by the client when it closes.
    """
    entering = asyncio.ensure_future(session.__aenter__())
    try:
        await asyncio.shield(entering)
    except asyncio.CancelledError:
        with contextlib.suppress(asyncio.CancelledError):  # cancelled again: the client's close stops it
            await asyncio.wait({entering})
        if entering.done() and not entering.cancelled() and entering.exception() is None:
            await session.__aexit__(None, None, None)
        raise
