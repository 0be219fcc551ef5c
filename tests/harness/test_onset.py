"""Speech onset/offset detection on audio levels: the noise floor, onsets, syllable gaps, hangover."""

from __future__ import annotations

import numpy as np
import pytest

from harness.onset import SILENCE_DB, SpeechDetector, Transition, rms_dbfs

FRAME = 0.02


def feed(detector: SpeechDetector, levels: list[float], start: float = 0.0) -> list[Transition]:
    found = []
    for i, level in enumerate(levels):
        transition = detector.feed(level, start + i * FRAME)
        if transition is not None:
            found.append(transition)
    return found


def test_rms_dbfs() -> None:
    assert rms_dbfs(np.zeros(960, np.int16)) == SILENCE_DB
    assert rms_dbfs(np.array([], np.int16)) == SILENCE_DB
    full = np.full(960, 32767, np.int16)
    assert rms_dbfs(full) == pytest.approx(0, abs=0.01)
    sine = (np.sin(np.arange(4800) * 2 * np.pi / 48) * 0.5).astype(np.float32)
    assert rms_dbfs(sine) == pytest.approx(-9.03, abs=0.05)


def test_onset_is_the_first_loud_frame_and_offset_the_first_quiet_one() -> None:
    detector = SpeechDetector(hangover_ms=100)
    idle, speech = [-66.0] * 20, [-18.0] * 30
    found = feed(detector, idle + speech + idle)
    assert found == [Transition("onset", pytest.approx(20 * FRAME)), Transition("offset", pytest.approx(50 * FRAME))]
    assert not detector.talking
    assert detector.floor_db == pytest.approx(-66, abs=0.5)


def test_short_syllable_gaps_do_not_end_speech() -> None:
    detector = SpeechDetector(hangover_ms=150)
    levels = [-66.0] * 10 + ([-18.0] * 10 + [-70.0] * 3) * 4 + [-66.0] * 20
    found = feed(detector, levels)
    assert [t.kind for t in found] == ["onset", "offset"]


def test_a_single_click_is_not_speech() -> None:
    detector = SpeechDetector()
    assert feed(detector, [-66.0] * 10 + [-10.0] + [-66.0] * 10) == []


def test_digital_silence_uses_the_absolute_minimum() -> None:
    detector = SpeechDetector(min_threshold_db=-55)
    assert feed(detector, [SILENCE_DB] * 10 + [-60.0] * 5) == []
    assert detector.threshold_db == -55
    assert [t.kind for t in feed(detector, [-40.0] * 3, start=1.0)] == ["onset"]


def test_floor_follows_a_rising_noise_level_slowly() -> None:
    detector = SpeechDetector()
    feed(detector, [-70.0] * 10)
    feed(detector, [-60.0] * 200, start=1)
    assert -62 < (detector.floor_db or 0) < -59
    assert not detector.talking
