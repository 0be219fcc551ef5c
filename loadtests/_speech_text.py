"""What the speech scenario says: sentences of three lengths, so latency can be told apart from speaking time.

Kept apart from the locustfile so code that must not import locust (the capacity benchmark's direct run) can
speak the same sentences.
"""

from __future__ import annotations

import random

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


def pick_sentence(kinds: list[str]) -> str:
    """A sentence whose length class (among ``kinds``) is drawn by ``SENTENCE_WEIGHTS``."""
    kind = random.choices(kinds, weights=[SENTENCE_WEIGHTS[k] for k in kinds])[0]
    return random.choice(SENTENCES[kind])
