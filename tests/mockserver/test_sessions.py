"""SessionRegistry directly: forward-only states, idempotent close, token expiry, bounded history."""

from __future__ import annotations

from avatar_contract.models import NewSessionRequest
from mockserver.clock import FakeClock
from mockserver.config import Settings
from mockserver.sessions import Principal, SessionRegistry, State

ME = Principal(api_key="registry-key-0000")


def registry(**overrides: object) -> tuple[SessionRegistry, FakeClock]:
    clock = FakeClock()
    return SessionRegistry(Settings(seed=5, **overrides), clock), clock  # type: ignore[arg-type]


async def test_states_only_move_forward() -> None:
    reg, _ = registry()
    s = reg.create(ME, NewSessionRequest())
    reg.mark(s, State.CONNECTED)
    reg.mark(s, State.CONNECTING)
    assert s.state is State.CONNECTED
    await reg.close(s, "stopped")
    await reg.close(s, "again")
    reg.mark(s, State.CONNECTED)
    assert (s.state, s.close_reason) == (State.CLOSED, "stopped")
    assert reg.timer_count() == 0


async def test_unused_tokens_expire() -> None:
    reg, clock = registry(token_ttl_s=10)
    token = reg.issue_token(ME.api_key)
    assert reg.grant(token) is not None
    await clock.advance(11)
    assert reg.grant(token) is None


async def test_history_is_bounded_and_keeps_live_sessions() -> None:
    reg, _ = registry(history_limit=2, concurrency_limit=100)
    live = reg.create(ME, NewSessionRequest())
    for _ in range(5):
        await reg.close(reg.create(ME, NewSessionRequest()), "stopped")
    reg.create(ME, NewSessionRequest())
    ids = [s.session_id for s in reg]
    assert live.session_id in ids
    assert sum(1 for s in reg if s.state is State.CLOSED) == 2


async def test_close_listeners_run_and_failures_do_not_block_close() -> None:
    reg, _ = registry()
    seen: list[str] = []

    async def broken(session: object) -> None:
        raise RuntimeError("listener bug")

    async def recorder(session: object) -> None:
        seen.append("closed")

    reg.close_listeners.extend([broken, recorder])
    s = reg.create(ME, NewSessionRequest())
    await reg.close(s, "stopped")
    assert s.state is State.CLOSED and seen == ["closed"]


async def test_a_clock_jump_closes_each_session_once_with_the_earliest_reason() -> None:
    """A suspended laptop or a stepped VM clock: hours pass at once; every due timer fires, in order, once."""
    reg, clock = registry(concurrency_limit=10)
    closed: list[str] = []

    async def record(session: object) -> None:
        closed.append(session.close_reason)  # type: ignore[attr-defined]

    reg.close_listeners.append(record)
    idle = reg.create(ME, NewSessionRequest(activity_idle_timeout=60))
    endless = reg.create(ME, NewSessionRequest(disable_idle_timeout=True))
    speaking = reg.create(ME, NewSessionRequest())
    task = reg.speak(speaking, "A sentence that takes a while to say, with pauses.", "repeat")
    await clock.advance(6 * 3600)
    assert sorted(closed) == ["duration_limit", "idle_timeout", "idle_timeout"]
    assert (idle.close_reason, endless.close_reason) == ("idle_timeout", "duration_limit")
    assert reg.live_count() == 0 and reg.timer_count() == 0
    # Speech is activity: the idle timer restarts when it ends.
    assert reg.usage()[ME.api_key] == 60 + 600 + (task.duration_ms / 1000 + 120)
