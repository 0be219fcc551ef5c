"""Speech latency (tag ``speech``): held sessions that speak sentences of varied length, with think time.

Per task the harness records ``streaming.task`` -> ``avatar_start_talking`` (``speech.event``), -> speech onset
in the received audio (``speech.onset``) and the received duration minus the promised one
(``speech.duration_error``); one sentence in seven is interrupted mid-way (``interrupt.latency``).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from locust import tag, task

from harness.session import Session
from loadtests._base import StreamingUser
from loadtests._speech_text import SENTENCES, pick_sentence

#: After the onset of an interrupted sentence, how long to let it play before ``streaming.interrupt``.
INTERRUPT_AFTER_S = (0.3, 1.2)


class SpeechUser(StreamingUser):
    """Speaks ``--sentences`` (length classes), thinking ``--think-time`` between; one sentence in
    ``--interrupt-every`` (the first, then every Nth) is a long one, interrupted once it has been heard."""

    scenario = "speech"

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        options = self.rt.options
        self.kinds = [k.strip() for k in str(getattr(options, "sentences", "short,medium,long")).split(",")]
        if not set(self.kinds) <= set(SENTENCES):
            raise ValueError(f"--sentences takes {', '.join(SENTENCES)}, not {self.kinds}")
        low, _, high = str(getattr(options, "think_time", "1,3")).partition(",")
        self.think = (float(low), float(high or low))
        self.interrupt_every = int(getattr(options, "interrupt_every", 7))
        self.spoken = 0

    def wait_time(self) -> float:
        return random.uniform(*self.think)

    def on_start(self) -> None:
        super().on_start()
        self.hold_session()

    @tag("speech")
    @task
    def speak(self) -> None:
        session = self.session or self.hold_session()
        if session is None:
            return
        # The 1st, (N+1)th, ... sentence is interrupted: even a short run measures both kinds.
        if self.interrupt_every > 0 and self.spoken % self.interrupt_every == 0:
            ok = self.attempt(self._interrupted(session))
        else:
            ok = self.attempt(session.speak(pick_sentence(self.kinds)))
        self.spoken += 1
        if not ok:
            self.drop_session()  # the service may have closed it: the next task opens a new one

    @staticmethod
    async def _interrupted(session: Session) -> None:
        await session.speak(random.choice(SENTENCES["long"]), wait_end=False)
        await asyncio.sleep(random.uniform(*INTERRUPT_AFTER_S))
        await session.interrupt()
