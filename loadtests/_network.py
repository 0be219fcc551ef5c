"""``--network-profile`` for load runs: users spread over named network profiles of the mock, samples labelled.

One profile or several, comma-separated (``--network-profile none,regular-3g``): each new user takes the next
one, round-robin (per locust process); its client labels every sample ``network_profile`` and has the mock
impair every session it opens (docs/network-conditions.md), so one run's report compares the profiles. Mock
targets only: the real service has no admin API to impair its network.
"""

from __future__ import annotations

from typing import Any

from harness.network import parse_profiles

HELP = "Mock only: network profile(s) of the sessions, comma-separated; users are spread over them."


def add_arguments(parser: Any) -> None:
    parser.add_argument("--network-profile", default="", help=HELP)


class NetworkProfiles:
    """One per locust process: which profile the next user gets, and what the run line says."""

    def __init__(self, options: Any) -> None:
        self._options = options  # read when used: a worker gets the master's options only when users spawn
        self._handed_out = 0

    @property
    def names(self) -> list[str]:
        return parse_profiles(getattr(self._options, "network_profile", ""))

    def refusal(self, target_kind: str, media: bool) -> str | None:
        """Why this run may not use its profiles (None: it may)."""
        if not self.names:
            return None
        if target_kind != "mock":
            return "--network-profile needs a mock target: the real service cannot be told to impair its network"
        if not media:
            return "--network-profile impairs media: it cannot go with --no-media"
        return None

    def next(self) -> str | None:
        """The next user's profile (None when the run has none)."""
        names = self.names
        if not names:
            return None
        self._handed_out += 1
        return names[(self._handed_out - 1) % len(names)]

    @property
    def run_label(self) -> str | None:
        """The run line's ``network_profile``: the run's profiles, comma-separated."""
        return ",".join(self.names) or None
