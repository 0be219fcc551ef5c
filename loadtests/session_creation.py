"""Session creation (tag ``creation``): new -> start -> first frame (and audio) -> stop, over and over.

Each cycle is one session; the harness records every phase (``session.create``, ``session.start``,
``session.ice_connected``, ``session.first_frame``, ``session.first_audio``, ``session.stop``), so the run shows
where setup time goes as load grows.
"""

from __future__ import annotations

import asyncio

from locust import between, tag, task

from harness.session import Session
from loadtests._base import StreamingUser

AUDIO_POLL_S = 0.01


class SessionCreationUser(StreamingUser):
    scenario = "creation"
    wait_time = between(0.5, 2.0)

    @tag("creation")
    @task
    def create_session(self) -> None:
        async def cycle() -> None:
            async with self.open_session() as session:
                if session.receiver is not None:
                    await session.wait_first_frame(self.opts.media_timeout)
                    await first_audio(session, self.opts.media_timeout)

        self.attempt(cycle())


async def first_audio(session: Session, timeout: float) -> None:
    """Until the first audio packet too: audio may trail video by a few ms, and a session stopped before it
    would record ``session.first_audio`` as never received. (The receiver timestamps the packet itself, so
    polling here does not change the measurement.)"""
    receiver = session.receiver
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while receiver is not None and receiver.first_audio_at is None and loop.time() < deadline:
        await asyncio.sleep(AUDIO_POLL_S)
