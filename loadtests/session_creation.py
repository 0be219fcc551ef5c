"""Session creation (tag ``creation``): new -> start -> first frame -> stop, over and over.

Each cycle is one session; the harness records every phase (``session.create``, ``session.start``,
``session.ice_connected``, ``session.first_frame``, ``session.first_audio``, ``session.stop``), so the run shows
where setup time goes as load grows.
"""

from __future__ import annotations

from locust import between, tag, task

from loadtests._base import StreamingUser


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

        self.attempt(cycle())
