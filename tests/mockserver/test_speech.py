"""The speech model: durations from words and punctuation, deterministic replies, message chunks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mockserver.config import SpeechSettings
from mockserver.speech import message_chunks, reply_for, speaking_duration_ms

S = SpeechSettings(words_per_minute=120, comma_pause_ms=200, sentence_pause_ms=400, min_duration_ms=300)


def test_words_per_minute() -> None:
    assert speaking_duration_ms("one two three four", S) == 2000.0  # 4 words at 2 words/s


def test_punctuation_pauses_but_not_the_final_stop() -> None:
    assert speaking_duration_ms("one, two. three four.", S) == 2000.0 + 200 + 400


def test_rate_scales_and_minimum_applies() -> None:
    assert speaking_duration_ms("one two three four", S, rate=2.0) == 1000.0
    assert speaking_duration_ms("hi", S) == 500.0
    assert speaking_duration_ms("!", S) == 300.0


def test_reply_is_deterministic() -> None:
    assert reply_for("What time is it?") == reply_for("What time is it?")
    assert len({reply_for(f"question {i}") for i in range(50)}) > 1


def test_chunks_are_sentences() -> None:
    assert message_chunks("Hi. How are you? Fine!") == ["Hi.", "How are you?", "Fine!"]
    assert message_chunks("no punctuation") == ["no punctuation"]


@given(st.text(max_size=300))
def test_any_text_has_a_positive_duration_and_chunks_keep_the_words(text: str) -> None:
    assert speaking_duration_ms(text, S) >= S.min_duration_ms
    assert " ".join(message_chunks(text)).split() == text.split() or not text.strip()
