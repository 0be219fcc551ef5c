"""The fake clock fires timers in order, runs woken tasks, and honours cancellation."""

from __future__ import annotations

import asyncio

from mockserver.clock import FakeClock, RealClock


async def test_timers_fire_in_order_up_to_the_target() -> None:
    clock = FakeClock()
    fired: list[tuple[str, float]] = []
    clock.call_later(2, lambda: fired.append(("b", clock.monotonic())))
    clock.call_later(1, lambda: fired.append(("a", clock.monotonic())))
    cancelled = clock.call_later(1.5, lambda: fired.append(("x", clock.monotonic())))
    cancelled.cancel()
    start = clock.monotonic()
    await clock.advance(1.5)
    assert fired == [("a", start + 1)]
    await clock.advance(1)
    assert fired == [("a", start + 1), ("b", start + 2)]
    assert clock.monotonic() == start + 2.5 and clock.pending == 0


async def test_sleep_wakes_on_advance() -> None:
    clock = FakeClock()
    sleeper = asyncio.ensure_future(clock.sleep(10))
    await clock.advance(9)
    assert not sleeper.done()
    await clock.advance(1)
    assert sleeper.done()


async def test_wall_time_moves_with_monotonic() -> None:
    clock = FakeClock()
    wall = clock.time()
    await clock.advance(5)
    assert clock.time() == wall + 5


async def test_real_clock_sleeps_and_schedules() -> None:
    clock = RealClock()
    done = asyncio.Event()
    clock.call_later(0.01, done.set)
    await clock.sleep(0.02)
    assert done.is_set()
