"""``--network-profile`` for load runs: users spread over named network profiles of the mock, samples labelled.

One profile or several, comma-separated (``--network-profile none,regular-3g``): each new user takes the next
one, round-robin, labels every sample of its client ``network_profile`` and has the mock impair each session it
opens (docs/network-conditions.md). Mock targets only: the real service has no admin API to impair.
"""

from __future__ import annotations

from typing import Any

from harness.network import LABEL, apply_network_profile, parse_profiles, spread
from harness.session import Session

HELP = "Mock only: network profile(s) of the sessions, comma-separated; users are spread over them."


def add_arguments(parser: Any) -> None:
    parser.add_argument("--network-profile", default="", help=HELP)


class NetworkProfiles:
    """One per locust process: which profile the next user gets, and what the run line says."""

    def __init__(self, options: Any) -> None:
        self.names = parse_profiles(getattr(options, "network_profile", ""))
        self._next = spread(self.names)

    def check(self, target_kind: str) -> str | None:
        """Why the run may not use profiles against this target (None: it may)."""
        if self.names and target_kind != "mock":
            return "--network-profile needs a mock target: the real service cannot be told to impair its network"
        return None

    def labels(self) -> dict[str, str]:
        """The next user's client labels: its profile, or nothing when the run has none."""
        name = next(self._next)
        return {LABEL: name} if name is not None else {}

    @property
    def run_label(self) -> str | None:
        """The run line's ``network_profile``: the profiles of the run, comma-separated."""
        return ",".join(self.names) or None


async def apply(session: Session) -> None:
    """Impair a just-opened session with its client's profile, if it has one."""
    profile = session.client.labels.get(LABEL)
    if profile:
        await apply_network_profile(session, profile)
