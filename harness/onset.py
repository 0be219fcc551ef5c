"""Speech onset and offset from received audio energy: what a listener hears, not what the service says.

The detector follows the idle noise floor (fast down, slow up) and calls speech when the level stays
``margin_db`` above it (and above ``min_threshold_db``) for ``onset_frames`` frames; speech ends when the
level stays below that threshold for ``hangover_ms``. Times are the receive times of the frames themselves:
an onset is the arrival of the first loud frame, an offset the arrival of the first quiet one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

#: Digital silence has no level; clamp it to something finite so the floor can still follow it.
SILENCE_DB = -100.0


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level of PCM samples in dB relative to full scale (int16 or float in [-1, 1])."""
    if samples.size == 0:
        return SILENCE_DB
    data = samples.ravel().astype(np.float32)
    power = float(data.dot(data)) / data.size
    if np.issubdtype(samples.dtype, np.integer):
        power /= 32768.0**2
    return max(10 * math.log10(power), SILENCE_DB) if power > 0 else SILENCE_DB


@dataclass(frozen=True, slots=True)
class Transition:
    """Speech started (``onset``) or ended (``offset``) at ``at`` (a ``time.perf_counter()`` value)."""

    kind: Literal["onset", "offset"]
    at: float


class SpeechDetector:
    """Turns a stream of (level, frame time) into onset/offset transitions."""

    def __init__(
        self,
        margin_db: float = 20.0,
        min_threshold_db: float = -55.0,
        onset_frames: int = 2,
        hangover_ms: float = 150.0,
        floor_rise: float = 0.02,
    ) -> None:
        self.margin_db = margin_db
        self.min_threshold_db = min_threshold_db
        self.onset_frames = onset_frames
        self.hangover_s = hangover_ms / 1000
        self.floor_rise = floor_rise
        self.floor_db: float | None = None
        self.talking = False
        self._run = 0
        self._run_start = 0.0
        self._quiet_since: float | None = None

    @property
    def threshold_db(self) -> float:
        floor = self.floor_db if self.floor_db is not None else SILENCE_DB
        return max(floor + self.margin_db, self.min_threshold_db)

    def feed(self, level_db: float, at: float) -> Transition | None:
        """One audio frame's level, received at ``at``; returns the transition it completes, if any."""
        if self.floor_db is None or level_db < self.floor_db:
            self.floor_db = level_db
        loud = level_db >= self.threshold_db
        if not loud and not self.talking:
            self.floor_db += self.floor_rise * (level_db - self.floor_db)
        if self.talking:
            if loud:
                self._quiet_since = None
                return None
            if self._quiet_since is None:
                self._quiet_since = at
            if at - self._quiet_since >= self.hangover_s:
                self.talking, self._run = False, 0
                return Transition("offset", self._quiet_since)
            return None
        if not loud:
            self._run = 0
            return None
        if self._run == 0:
            self._run_start = at
        self._run += 1
        if self._run >= self.onset_frames:
            self.talking, self._quiet_since = True, None
            return Transition("onset", self._run_start)
        return None
