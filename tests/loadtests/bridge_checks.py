"""Checks of the gevent <-> asyncio bridge, run in a subprocess by ``test_bridge.py``.

``import locust`` monkey-patches the whole process with gevent, which must never happen to the pytest process
itself; so the checks live here and print one JSON object: ``{check_name: "ok" | "error message"}``.
Usage: ``python bridge_checks.py [check ...]`` (all checks by default).
"""

# ruff: noqa: I001 - locust comes first, as in a real locust process: importing it monkey-patches everything.
from __future__ import annotations

import locust  # noqa: F401

import asyncio
import json
import random
import socket
import sys
import time
import traceback
from collections.abc import Callable

import gevent

from loadtests._bridge import AsyncBridge, BridgeClosed, BridgeTimeout, patch_loop_libraries

CHECKS: dict[str, Callable[[AsyncBridge], None]] = {}


def check(func: Callable[[AsyncBridge], None]) -> Callable[[AsyncBridge], None]:
    CHECKS[func.__name__] = func
    return func


@check
def result_and_exception(bridge: AsyncBridge) -> None:
    async def double(x: int) -> int:
        await asyncio.sleep(0.001)
        return 2 * x

    async def fail() -> None:
        raise KeyError("boom")

    assert bridge.run(double(21), 5) == 42
    try:
        bridge.run(fail(), 5)
    except KeyError as exc:
        assert exc.args == ("boom",)
    else:
        raise AssertionError("exception not propagated")


@check
def timeout_cancels_task(bridge: AsyncBridge) -> None:
    state: dict[str, bool] = {}

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            state["cancelled"] = True
            raise

    started = time.monotonic()
    try:
        bridge.run(slow(), 0.2)
    except BridgeTimeout:
        pass
    else:
        raise AssertionError("no BridgeTimeout")
    assert time.monotonic() - started < 2, "timeout not honoured"
    gevent.sleep(0.2)
    assert state.get("cancelled"), "task not cancelled after the timeout"


@check
def killed_greenlet_cancels_task(bridge: AsyncBridge) -> None:
    state: dict[str, bool] = {}

    async def forever() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            state["cancelled"] = True
            raise

    waiter = gevent.spawn(bridge.run, forever())
    gevent.sleep(0.1)
    waiter.kill(block=True, timeout=2)
    assert waiter.dead, "greenlet did not die"
    gevent.sleep(0.2)
    assert state.get("cancelled"), "task not cancelled after the kill"


@check
def many_concurrent_waits(bridge: AsyncBridge) -> None:
    """1000 greenlets wait at once; all get their own result and the hub keeps ticking on time."""
    rng = random.Random(1)

    async def echo(i: int, delay: float) -> int:
        await asyncio.sleep(delay)
        return i

    lateness: list[float] = []

    def ticker() -> None:
        while True:
            before = time.perf_counter()
            gevent.sleep(0.01)
            lateness.append(time.perf_counter() - before - 0.01)

    tick = gevent.spawn(ticker)
    started = time.perf_counter()
    waiters = [gevent.spawn(bridge.run, echo(i, rng.uniform(0, 0.5)), 10) for i in range(1000)]
    gevent.joinall(waiters, timeout=20)
    elapsed = time.perf_counter() - started
    tick.kill()
    assert all(w.successful() for w in waiters), "some waits failed"
    assert [w.value for w in waiters] == list(range(1000)), "results mixed up"
    assert elapsed < 5, f"1000 waits of <=0.5s took {elapsed:.1f}s"
    worst = sorted(lateness)[int(len(lateness) * 0.99)]
    assert worst < 0.5, f"hub p99 lateness {worst * 1000:.0f} ms"


@check
def drain_waits_for_cleanup(bridge: AsyncBridge) -> None:
    scope: set[asyncio.Task[object]] = set()
    state: dict[str, bool] = {}

    async def with_cleanup() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            await asyncio.sleep(0.2)  # e.g. stopping a session
            state["cleaned"] = True

    waiter = gevent.spawn(bridge.run, with_cleanup(), None, scope)
    gevent.sleep(0.1)
    waiter.kill()
    bridge.drain(scope, 5)
    assert state.get("cleaned"), "drain returned before the cancelled task finished its clean-up"
    assert not scope, "scope still holds finished tasks"


@check
def no_call_from_loop_thread(bridge: AsyncBridge) -> None:
    async def inner() -> None:
        return None

    async def outer() -> str:
        try:
            bridge.run(inner())
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    assert "own loop thread" in bridge.run(outer(), 5)


@check
def resolves_names(bridge: AsyncBridge) -> None:
    async def resolve() -> list[object]:
        return await asyncio.get_running_loop().getaddrinfo("localhost", 80)

    assert bridge.run(resolve(), 5), "no address for localhost"


@check
def aiortc_decoder_threads_run(bridge: AsyncBridge) -> None:
    patch_loop_libraries()
    from aiortc import rtcrtpreceiver

    async def in_decoder_thread() -> int:
        queue = rtcrtpreceiver.queue.Queue()
        thread = rtcrtpreceiver.threading.Thread(target=lambda: queue.put(41 + 1), name="t", args=())
        thread.start()
        thread.join()
        return int(queue.get())

    assert bridge.run(in_decoder_thread(), 5) == 42


@check
def httpx_readability_check_without_gevent(bridge: AsyncBridge) -> None:
    """httpcore's pooled-connection check runs the real poll (not gevent's) and still tells idle from ready."""
    patch_loop_libraries()
    from gevent import monkey
    from httpcore import _utils

    assert _utils.select.poll is monkey.get_original("select", "poll")

    async def readable_before_and_after_data() -> tuple[bool, bool]:
        left, right = socket.socketpair()
        idle = _utils.is_socket_readable(left)
        right.send(b"x")
        ready = _utils.is_socket_readable(left)
        left.close()
        right.close()
        return idle, ready

    result = bridge.run(readable_before_and_after_data(), 5)
    assert result == (False, True), result


@check
def close_cancels_waiters(bridge: AsyncBridge) -> None:
    local = AsyncBridge()
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            local.run(asyncio.sleep(30))
        except BaseException as exc:
            outcome.append(exc)

    waiter = gevent.spawn(wait)
    gevent.sleep(0.1)
    local.close(5)
    waiter.join(5)
    assert outcome and isinstance(outcome[0], asyncio.CancelledError), repr(outcome)
    try:
        local.run(asyncio.sleep(0))
    except BridgeClosed:
        pass
    else:
        raise AssertionError("a closed bridge accepted work")


def main(names: list[str]) -> int:
    bridge = AsyncBridge()
    results: dict[str, str] = {}
    for name in names or list(CHECKS):
        try:
            with gevent.Timeout(30):
                CHECKS[name](bridge)
            results[name] = "ok"
        except BaseException as exc:  # report every failure, keep checking
            results[name] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    bridge.close(5)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
