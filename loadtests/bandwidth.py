"""Bandwidth per tier (tag ``bandwidth``): sessions held per tier and codec, media measured per window.

Users are spread round-robin over ``--tiers`` x ``--codecs``; each holds one session and the harness records,
every ``--media-window`` seconds, the received ``media.bitrate`` (target: the tier's bitrate), ``media.fps``
(target 25), ``media.freezes`` (target 0), ``media.packet_loss`` and ``media.jitter``.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

from locust import tag, task

from loadtests._base import StreamingUser


class BandwidthUser(StreamingUser):
    scenario = "bandwidth"
    _next: ClassVar[itertools.count[int]] = itertools.count()

    def wait_time(self) -> float:
        return self.opts.media_window

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        options = self.rt.options
        combos = [
            (tier.strip(), codec.strip().upper())
            for tier in str(getattr(options, "tiers", "low")).split(",")
            for codec in str(getattr(options, "codecs", "VP8")).split(",")
        ]
        self.tier, self.codec = combos[next(self._next) % len(combos)]

    def on_start(self) -> None:
        super().on_start()
        self.hold_session(quality=self.tier, video_encoding=self.codec)

    @tag("bandwidth")
    @task
    def watch(self) -> None:
        """Keep watching (the windows are sampled in the background); keep-alive like a real player."""
        session = self.session or self.hold_session(quality=self.tier, video_encoding=self.codec)
        if session is not None and not self.attempt(session.keep_alive()):
            self.drop_session()
