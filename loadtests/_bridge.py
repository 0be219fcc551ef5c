"""The gevent <-> asyncio bridge: one asyncio loop in a real OS thread per locust process.

Locust users are greenlets; aiortc, httpx and the harness are asyncio. Running asyncio on the gevent hub
collapses under CPU load, so the loop gets its own real thread and each greenlet waits *cooperatively* for its
coroutine: it submits with ``call_soon_threadsafe`` and sleeps on a ``gevent.event.AsyncResult`` that the loop
thread wakes through a gevent async watcher (thread-safe ``send``). A greenlet that is killed or times out
cancels its task.

Traps this module steps around (measured, see docs/load-scenarios.md): after locust's monkey-patching a
"real" thread must come from the original ``_thread.start_new_thread``; the loop must be built on the original
``selectors.EpollSelector`` (gevent's selector hangs there); name resolution must not go through gevent's
patched resolver (this loop resolves with the unpatched C ``_socket.getaddrinfo`` in its own real threads);
and aiortc's decoder threads and httpcore's ``select.poll`` need their unpatched versions
(``patch_loop_libraries``).
Create one bridge per process in ``events.init`` so forked workers (``--processes``) get their own.
"""

from __future__ import annotations

import _queue
import _socket
import asyncio
import collections
import contextlib
import logging
import select
import types
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import gevent
from gevent import monkey
from gevent.event import AsyncResult

log = logging.getLogger(__name__)

T = TypeVar("T")

_start_new_thread: Callable[..., int] = monkey.get_original("_thread", "start_new_thread")
_get_ident: Callable[[], int] = monkey.get_original("_thread", "get_ident")
_allocate_lock: Callable[[], Any] = monkey.get_original("_thread", "allocate_lock")
_EpollSelector: Any = monkey.get_original("selectors", "EpollSelector")
_poll: Callable[[], Any] = monkey.get_original("select", "poll")

#: Real threads for blocking calls the loop hands off (name resolution); few are ever busy at once.
RESOLVER_THREADS = 4


class _RealThread:
    """Just enough of ``threading.Thread`` for aiortc's decoder threads, on a real OS thread."""

    def __init__(self, target: Callable[..., Any], name: str = "", args: tuple[Any, ...] = ()) -> None:
        self._target, self._args = target, args
        self._done = _allocate_lock()

    def start(self) -> None:
        self._done.acquire()
        _start_new_thread(self._run, ())

    def _run(self) -> None:
        try:
            self._target(*self._args)
        finally:
            self._done.release()

    def join(self) -> None:
        with self._done:
            pass


class _Flag:
    """``threading.Event`` as aiortc uses it across threads (set, is_set, clear), without gevent."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def clear(self) -> None:
        self._set = False


def patch_loop_libraries() -> None:
    """Keep gevent out of the loop thread where libraries reach for patched ``threading``/``select``.

    aiortc decodes in a ``threading.Thread`` fed by a ``queue.Queue``; after gevent's monkey-patching, started
    from the bridge's loop thread, that thread is a greenlet on a hub that never runs, so nothing is ever
    decoded (no audio: no speech onset; no video in decode mode). httpcore checks pooled connections with
    ``select.poll``, which gevent replaces with one that starts a second gevent hub in the loop thread. Only
    those two modules are changed, and only in a locust process.
    """
    from aiortc import rtcrtpreceiver
    from httpcore import _utils

    rtcrtpreceiver.threading = types.SimpleNamespace(Thread=_RealThread, Event=_Flag)  # type: ignore[assignment]
    rtcrtpreceiver.queue = types.SimpleNamespace(Queue=_queue.SimpleQueue)  # type: ignore[assignment]
    _utils.select = types.SimpleNamespace(poll=_poll, POLLIN=select.POLLIN)  # type: ignore[assignment]


class BridgeTimeout(TimeoutError):
    """The coroutine did not finish within the greenlet's timeout; its task was cancelled."""


class BridgeClosed(RuntimeError):
    """The bridge was closed; nothing more can run on it."""


class _RealThreadPool:
    """A few daemon OS threads for blocking work; results go back to the loop with ``call_soon_threadsafe``.

    ``concurrent.futures`` would use gevent-patched locks and threads here, hence this small stand-in built on
    the unpatched ``_thread`` and ``_queue`` modules.
    """

    def __init__(self, size: int) -> None:
        self._jobs: Any = _queue.SimpleQueue()
        self._size = size
        self._started = 0

    def submit(self, loop: asyncio.AbstractEventLoop, func: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        future: asyncio.Future[T] = loop.create_future()
        if self._started < self._size:
            self._started += 1
            _start_new_thread(self._work, ())
        self._jobs.put((loop, future, func, args))
        return future

    def shutdown(self) -> None:
        for _ in range(self._started):
            self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, func, args = job
            try:
                result = func(*args)
            except BaseException as exc:
                loop.call_soon_threadsafe(_settle, future, None, exc)
            else:
                loop.call_soon_threadsafe(_settle, future, result, None)


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


class _BridgeLoop(asyncio.SelectorEventLoop):
    """A selector loop whose default executor and name resolution never touch gevent."""

    def __init__(self, pool: _RealThreadPool) -> None:
        super().__init__(_EpollSelector())
        self._pool = pool

    def run_in_executor(  # type: ignore[override]
        self, executor: Any, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        if executor is not None:
            return super().run_in_executor(executor, func, *args)
        return self._pool.submit(self, func, *args)

    async def getaddrinfo(
        self, host: Any, port: Any, *, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[Any]:
        return await self._pool.submit(self, _socket.getaddrinfo, host, port, family, type, proto, flags)

    async def getnameinfo(self, sockaddr: Any, flags: int = 0) -> tuple[str, str]:
        return await self._pool.submit(self, _socket.getnameinfo, sockaddr, flags)


class AsyncBridge:
    """Runs coroutines on a private asyncio loop in a real OS thread, for greenlets to wait on cooperatively.

    Create it, and call ``run``, from the hub thread of the process (where locust's greenlets live), never from
    the loop thread itself.
    """

    def __init__(self) -> None:
        self._pool = _RealThreadPool(RESOLVER_THREADS)
        self._loop = _BridgeLoop(self._pool)
        self._thread_id: int | None = None
        self._stopped = AsyncResult()
        self._closed = False
        # Results come back through one gevent async watcher: the loop thread queues them and ``send``s (thread
        # safe); the hub delivers every queued result per wake-up. The watcher keeps the hub alive (``ref``)
        # only while some greenlet waits, so an idle bridge never keeps a process from ending.
        self._results: collections.deque[tuple[AsyncResult, Any]] = collections.deque()
        self._wakeup = gevent.get_hub().loop.async_()
        self._wakeup.start(self._deliver)
        self._wakeup.ref = False
        self._waiting = 0
        _start_new_thread(self._main, ())

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def closed(self) -> bool:
        return self._closed

    def run(
        self,
        coro: Coroutine[Any, Any, T],
        timeout: float | None = None,
        scope: set[asyncio.Task[Any]] | None = None,
    ) -> T:
        """Run ``coro`` on the loop and wait for it without blocking other greenlets; returns its result.

        Raises what the coroutine raised, ``BridgeTimeout`` after ``timeout`` seconds. A timeout or a kill of
        the waiting greenlet cancels the task (without waiting for it to wind down: see ``drain``). Tasks are
        added to ``scope`` (touched only on the loop thread) so their owner can drain them later.
        """
        if self._closed:
            coro.close()
            raise BridgeClosed("the asyncio bridge is closed")
        if _get_ident() == self._thread_id:
            coro.close()
            raise RuntimeError("AsyncBridge.run called from its own loop thread; await the coroutine instead")
        done: AsyncResult = AsyncResult()
        holder: list[asyncio.Task[T]] = []

        def start() -> None:  # on the loop thread
            task = self._loop.create_task(coro)
            holder.append(task)
            if scope is not None:
                scope.add(task)
                task.add_done_callback(scope.discard)
            task.add_done_callback(lambda t: self._post(done, t))

        self._loop.call_soon_threadsafe(start)
        try:
            finished = self._wait(done, timeout)
        except BaseException:  # GreenletExit, KeyboardInterrupt, an outer gevent.Timeout
            self._cancel(holder)
            raise
        if finished is None:
            self._cancel(holder)
            raise BridgeTimeout(f"no result within {timeout:g}s")
        task: asyncio.Task[T] = finished
        return task.result()

    def drain(self, scope: set[asyncio.Task[Any]], timeout: float = 10.0) -> None:
        """Cancel the scope's unfinished tasks and wait (bounded) until they have wound down."""
        if self._closed:
            return
        with contextlib.suppress(BridgeTimeout):
            self.run(_cancel_and_wait(scope, timeout), timeout + 1.0)

    def close(self, timeout: float = 10.0) -> None:
        """Cancel every task, stop the loop and its thread; waits up to ``timeout`` seconds."""
        if self._closed:
            return
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._wait(self._stopped, timeout) is None:
            log.warning("asyncio bridge did not stop within %gs", timeout)
        self._wakeup.stop()
        self._wakeup.close()
        self._pool.shutdown()

    def _wait(self, result: AsyncResult, timeout: float | None) -> Any:
        self._waiting += 1
        self._wakeup.ref = True
        try:
            return result.wait(timeout)
        finally:
            self._waiting -= 1
            if not self._waiting:
                self._wakeup.ref = False

    def _post(self, result: AsyncResult, value: Any) -> None:
        """From the loop thread: hand ``value`` to the greenlet waiting on ``result``."""
        self._results.append((result, value))
        self._wakeup.send()

    def _deliver(self) -> None:
        """On the hub: wake every greenlet whose result has arrived."""
        with contextlib.suppress(IndexError):
            while True:
                result, value = self._results.popleft()
                result.set(value)

    def _cancel(self, holder: list[asyncio.Task[Any]]) -> None:
        # call_soon_threadsafe keeps order, so ``start`` has run (and filled ``holder``) before this does.
        with contextlib.suppress(RuntimeError):  # loop already closed
            self._loop.call_soon_threadsafe(lambda: holder and holder[0].cancel())

    def _main(self) -> None:
        self._thread_id = _get_ident()
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.wait(tasks, timeout=5.0))
            loop.run_until_complete(loop.shutdown_asyncgens())
        except BaseException:  # the thread must always report that it ended
            log.exception("asyncio bridge loop failed")
        finally:
            loop.close()
            self._post(self._stopped, True)


async def _cancel_and_wait(scope: set[asyncio.Task[Any]], timeout: float) -> None:
    current = asyncio.current_task()
    pending = [t for t in scope if not t.done() and t is not current]
    for task in pending:
        if not task.cancelling():  # a second cancel would cut its clean-up (e.g. stopping a session) short
            task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=timeout)
