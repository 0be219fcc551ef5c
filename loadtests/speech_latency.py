"""Speech latency (tag ``speech``): held sessions that speak sentences of varied length, with think time.

Per task the harness records ``streaming.task`` -> ``avatar_start_talking`` (``speech.event``), -> speech onset
in the received audio (``speech.onset``) and the received duration minus the promised one
(``speech.duration_error``); one task in seven is interrupted mid-sentence (``interrupt.latency``).
"""

from __future__ import annotations

import asyncio
import random

from locust import between, tag, task

from loadtests._base import StreamingUser

#: Short, medium and long sentences, so latency can be told apart from speaking time.
SENTENCES = {
    "short": [
        "Hello there.",
        "Welcome back!",
        "How can I help?",
        "Thanks, that is all.",
    ],
    "medium": [
        "Our store opens at nine in the morning and closes at six in the evening, every day.",
        "Sure, I can walk you through the setup, it only takes a couple of minutes.",
        "The package left our warehouse yesterday, so it should reach you by Thursday.",
    ],
    "long": [
        "Thanks for calling. Before we start, let me explain how this works: I will ask you a few questions "
        "about your account, then we will look at the options that fit you best, and at the end you can "
        "decide, with no obligation, whether you want to go ahead today or think about it first.",
        "Here is a summary of the meeting. Sales grew for the third quarter in a row, mostly in the north; "
        "the new product line ships in May; and hiring stays frozen until the budget review, which is "
        "planned for the first week of June.",
    ],
}
SENTENCE_WEIGHTS = {"short": 3, "medium": 2, "long": 1}
#: After the onset of an interrupted sentence, how long to let it play before ``streaming.interrupt``.
INTERRUPT_AFTER_S = (0.3, 1.2)


def pick_sentence() -> str:
    """A sentence whose length class is drawn by ``SENTENCE_WEIGHTS``."""
    kinds = list(SENTENCE_WEIGHTS)
    kind = random.choices(kinds, weights=[SENTENCE_WEIGHTS[k] for k in kinds])[0]
    return random.choice(SENTENCES[kind])


class SpeechUser(StreamingUser):
    scenario = "speech"
    wait_time = between(1.0, 3.0)  # think time between sentences

    def on_start(self) -> None:
        super().on_start()
        self.hold_session()

    @tag("speech")
    @task(6)
    def speak(self) -> None:
        session = self.session or self.hold_session()
        if session is None:
            return
        if self.attempt(session.speak(pick_sentence())) is None:
            self.drop_session()  # the service may have closed it: the next task opens a new one

    @tag("speech")
    @task(1)
    def speak_and_interrupt(self) -> None:
        session = self.session or self.hold_session()
        if session is None:
            return

        async def interrupted() -> None:
            await session.speak(random.choice(SENTENCES["long"]), wait_end=False)
            await asyncio.sleep(random.uniform(*INTERRUPT_AFTER_S))
            await session.interrupt()

        if self.attempt(interrupted()) is None:
            self.drop_session()
