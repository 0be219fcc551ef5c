"""EventLog: a session's recent avatar events, compacted to one JSON string when the session closes.

The mock keeps up to ``history_limit`` closed sessions (1,000 by default) so tests can read what a session emitted
after it ended. Kept as dicts, a closed session's events cost ~300-400 bytes each; as one compact JSON string they
cost ~70, which is what keeps a long soak's memory flat while that history fills (docs/reliability.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, overload

Event = dict[str, Any]


class EventLog(Sequence[Event]):
    """The last ``limit`` events, in order; ``freeze()`` turns it read-only and compact."""

    __slots__ = ("_frozen", "_limit", "_live")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._live: list[Event] | None = []
        self._frozen = ""

    def append(self, event: Event) -> None:
        if self._live is None:  # the session has closed: nobody is left to receive it
            return
        self._live.append(event)
        if len(self._live) > self._limit:
            del self._live[0]

    def freeze(self) -> None:
        """Keep the events as compact JSON from now on (a closed session emits nothing more)."""
        if self._live is not None:
            self._frozen = json.dumps(self._live, separators=(",", ":")) if self._live else ""
            self._live = None

    def _events(self) -> list[Event]:
        if self._live is not None:
            return self._live
        return list(json.loads(self._frozen)) if self._frozen else []

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        return self._events()[index]

    def __len__(self) -> int:
        return len(self._events())

    def __iter__(self) -> Iterator[Event]:
        return iter(list(self._events()))
