"""EventLog: bounded while the session lives, read-only and unchanged in content once frozen."""

from __future__ import annotations

from mockserver.event_log import EventLog


def test_keeps_the_last_events_in_order() -> None:
    log = EventLog(limit=3)
    for n in range(5):
        log.append({"type": "avatar_talking_message", "n": n})
    assert [e["n"] for e in log] == [2, 3, 4]
    assert log[0]["n"] == 2 and log[-1]["n"] == 4 and len(log) == 3


def test_frozen_log_reads_the_same_and_takes_nothing_more() -> None:
    log = EventLog(limit=10)
    events = [{"type": "avatar_start_talking", "task_id": "t1"}, {"type": "avatar_stop_talking", "duration_ms": 1.5}]
    for event in events:
        log.append(event)
    log.freeze()
    log.append({"type": "late"})  # a closed session emits nothing more
    assert list(log) == events
    assert log[1] == events[1] and log[-1:] == events[1:] and len(log) == 2


def test_an_empty_log_freezes_to_nothing() -> None:
    log = EventLog(limit=10)
    log.freeze()
    assert list(log) == [] and len(log) == 0


def test_readers_get_copies_not_the_live_list() -> None:
    log = EventLog(limit=10)
    log.append({"type": "a"})
    seen = iter(log)
    log.append({"type": "b"})
    assert [e["type"] for e in seen] == ["a"]
