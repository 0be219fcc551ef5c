"""One load run's process-wide machinery, wired into locust's event hooks.

Per locust process (local, master or worker) there is one ``Runtime``, created in ``events.init`` (so each
process forked by ``--processes`` gets its own): the asyncio bridge, the target, the sample sink, the registry
of open sessions. Samples flow from the harness (on the bridge's loop thread) into ``LocustSink``; a greenlet
drains it, fires a locust ``request`` event per sample (so the web UI, CSV and HTML see every measurement)
and writes the raw sample to ``reports/runs/<run-id>/samples.jsonl``, or, on a worker, sends it to the
master in batches (locust custom messages), which writes it to the one run file of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import logging
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event
from locust import events
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import STATE_MISSING, STATE_RUNNING, STATE_SPAWNING, MasterRunner, WorkerRunner

from harness.client import StreamingClient
from harness.errors import StreamingError
from harness.metrics import RunWriter, make_sample, new_run_id
from loadtests._bridge import AsyncBridge, patch_loop_libraries
from loadtests._network import NetworkProfiles
from loadtests._network import add_arguments as add_network_arguments
from loadtests._target import (
    API_KEY_ENV,
    LOAD_CONCURRENCY_LIMIT,
    EmbeddedMock,
    Target,
    TargetRefused,
    new_mock_key,
    resolve,
)
from reports import build_report, update_index

log = logging.getLogger("loadtests")

#: The scenario whose stepped shape drives the whole run; it only runs when selected (see docs/load-scenarios.md).
CONCURRENCY = "concurrency"
#: Message types between master and workers.
MSG_SAMPLES = "avatar_samples"
MSG_FLUSH = "avatar_flush"
DRAIN_INTERVAL_S = 0.2
SEND_INTERVAL_S = 0.5
GAUGE_INTERVAL_S = 1.0
#: The GIL switch interval of a locust process (Python's default is 5 ms); see docs/load-scenarios.md.
GIL_SWITCH_INTERVAL_S = 0.001
#: REST timeouts of the harness client, per target kind.
MOCK_REST_TIMEOUT_S = 30.0
REAL_REST_TIMEOUT_S = 90.0
#: How long the end of a run waits for workers' last samples and for open sessions to stop.
FLUSH_TIMEOUT_S = 30.0
CLEANUP_TIMEOUT_S = 15.0
#: Setup milestones a session torn down by the end of the run never reached: not a failure of the service.
_SETUP_MILESTONES = {"session.ice_connected", "session.first_frame", "session.first_audio"}

#: Locust's "Type" column for a metric family, where the family name is not the clearest (or too wide).
_REQUEST_TYPES = {"sessions": "GAUGE", "concurrency": "STEP", "interrupt": "SPEECH"}

_runtime: Runtime | None = None


def runtime() -> Runtime:
    """This process's runtime (exists once locust has fired ``init``)."""
    if _runtime is None:
        raise RuntimeError("the load-test runtime starts in locust's init event; run these files with locust")
    return _runtime


class SampleError(Exception):
    """What a failed sample looks like in locust's failure table: the run file's error label."""


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """Session settings every scenario shares (from the command line)."""

    quality: str
    codec: str
    flow: str
    receive: str | None
    media_timeout: float
    keep_alive_s: float
    media_window: float


class LocustSink:
    """The harness's ``SampleSink`` for a locust process: thread-safe intake, drained on the gevent hub.

    ``record`` runs on the bridge's loop thread, where nothing of locust may be touched, so it only stamps the
    sample and appends it to a deque; ``drain`` (a greenlet) takes it from there.
    """

    def __init__(self) -> None:
        self._queue: collections.deque[dict[str, Any]] = collections.deque()

    def record(
        self, metric: str, value: float | None, unit: str, ok: bool = True, error: str | None = None, **labels: Any
    ) -> None:
        self._queue.append(make_sample(metric, value, unit, ok, error, labels).to_json())

    def take(self) -> list[dict[str, Any]]:
        taken: list[dict[str, Any]] = []
        with contextlib.suppress(IndexError):
            while True:
                taken.append(self._queue.popleft())
        return taken


def fire(environment: Environment, sample: dict[str, Any]) -> None:
    """One sample as a locust request: type from the metric's family, value as the "response time"."""
    metric, unit = sample["metric"], sample["unit"]
    family, _, _ = metric.partition(".")
    kind = _REQUEST_TYPES.get(family, family.upper())
    name = metric if unit == "ms" else f"{metric} [{unit}]"
    value = sample.get("value")
    environment.events.request.fire(
        request_type=kind,
        name=name,
        response_time=value if isinstance(value, int | float) and math.isfinite(value) else 0,
        response_length=0,
        exception=None if sample.get("ok", True) else SampleError(sample.get("error") or "error"),
        context={"session": sample.get("session")},
    )


def write(writer: RunWriter, sample: dict[str, Any]) -> None:
    """A sample line (as produced anywhere in the run) into the run file, keeping its own timestamp."""
    fixed = {"kind", "metric", "value", "unit", "ok", "error", "ts"}
    labels = {k: v for k, v in sample.items() if k not in fixed}
    writer.record(
        sample["metric"], sample["value"], sample["unit"], sample["ok"], sample["error"], ts=sample["ts"], **labels
    )


class Runtime:
    """Everything one locust process shares between its users; see the module docstring."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.options: argparse.Namespace = environment.parsed_options or argparse.Namespace()
        self.role = (
            "master"
            if isinstance(environment.runner, MasterRunner)
            else "worker"
            if isinstance(environment.runner, WorkerRunner)
            else "local"
        )
        patch_loop_libraries()
        # Two OS threads hand work back and forth: with the default 5 ms GIL switch interval every hand-off can
        # wait a whole interval behind the other thread's CPU work. Measured side by side with the loop thread
        # busy: bridge round trip p99 24-32 ms at 1 ms against 60-77 ms at 5 ms (docs/load-scenarios.md).
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        self.bridge = AsyncBridge()
        self.sink = LocustSink()
        self.network = NetworkProfiles(self.options)
        self.target: Target | None = None
        self.mock: EmbeddedMock | None = None
        self._embedded: Target | None = None
        self.scenarios: list[str] = []
        self.writer: RunWriter | None = None
        self.run_id: str | None = None
        self.report_path: Path | None = None
        self.stopping = False
        #: Clients of live users, for the ``sessions.live`` gauge and the clean-up of sessions left open.
        self.clients: set[StreamingClient] = set()
        self.observers: list[Callable[[dict[str, Any]], None]] = []
        self._worker_live: dict[str, int] = {}
        self._flushed: set[str] = set()
        self._flush_event = Event()
        self._outbox: list[dict[str, Any]] = []
        self._slots: asyncio.Semaphore | None = None
        self._greenlets = [gevent.spawn(self._drain_loop)]
        if self.role != "worker":
            self._greenlets.append(gevent.spawn(self._gauge_loop))

    # --- target ---

    def resolve_target(self, host: str | None) -> Target:
        """The target for ``host`` (None: the embedded mock, started once); ``TargetRefused`` when not allowed."""
        opts = self.options
        real = bool(getattr(opts, "heygen_real", False))
        cap = int(getattr(opts, "max_real_sessions", 3))
        refusal = self.network.refusal("real" if real else "mock", media=not getattr(opts, "no_media", False))
        if refusal is not None:
            raise TargetRefused(refusal)
        if self.role == "worker":
            # The master decided: its host and its mock key arrive with the spawn message.
            workers = max(int(getattr(opts, "expect_workers", 1) or 1), 1)
            target = resolve(self.environment.host, real, max(cap // workers, 1), getattr(opts, "mock_key", None))
            if target is None:
                raise TargetRefused("worker got no host from the master")
            self.target = target
            return target
        target = resolve(host or None, real, cap, getattr(opts, "mock_key", None))
        if real and self.role == "master":
            workers = max(int(getattr(opts, "expect_workers", 1) or 1), 1)
            if cap < workers:
                raise TargetRefused(f"--max-real-sessions {cap} is below the number of workers ({workers})")
        if target is None:
            target = self._embedded or self._start_embedded_mock()
        self.target = target
        self.environment.host = target.host
        # Workers learn a generated mock key from the master's options; a key from the environment never
        # travels (workers read HEYGEN_API_KEY from their own environment).
        opts.mock_key = (
            target.api_key if target.kind == "mock" and not os.environ.get(API_KEY_ENV, "").strip() else None
        )
        return target

    def _start_embedded_mock(self) -> Target:
        opts = self.options
        key = os.environ.get(API_KEY_ENV, "").strip() or new_mock_key()
        limit = getattr(opts, "mock_concurrency_limit", None)
        if limit is None and CONCURRENCY not in self.scenarios:
            limit = LOAD_CONCURRENCY_LIMIT
        run_dir = Path(getattr(opts, "run_dir", "reports/runs"))
        self.mock = EmbeddedMock(
            key,
            limit,
            run_dir / f"embedded-mock-{os.getpid()}.log",
            media=not getattr(opts, "no_media", False),
            media_workers=os.cpu_count(),
            latency_profile=getattr(opts, "mock_latency_profile", None),
        )
        url = self.mock.wait_ready()
        log.info("embedded mock listening on %s (log: %s)", url, self.mock.log_path)
        self._embedded = Target("mock", url, key)
        return self._embedded

    def session_options(self) -> SessionOptions:
        opts = self.options
        no_media = bool(getattr(opts, "no_media", False))
        return SessionOptions(
            quality=getattr(opts, "quality", "low"),
            codec=getattr(opts, "codec", "VP8"),
            flow="none" if no_media else getattr(opts, "flow", "v1"),
            receive=None if no_media else getattr(opts, "receive", "count"),
            media_timeout=float(getattr(opts, "media_timeout", 10.0)),
            keep_alive_s=float(getattr(opts, "keep_alive", 30.0)),
            media_window=float(getattr(opts, "media_window", 5.0)),
        )

    # --- sessions ---

    def new_client(self, scenario: str) -> StreamingClient:
        """A client for one user (one connection pool per user: a shared httpx pool is the bottleneck)."""
        target = self.target
        if target is None:
            raise StopUser()  # the target was refused (logged): this user opens nothing

        # The real streaming.new sometimes takes about a minute; a client that gives up first never learns the id
        # of the session it may still have created (and so cannot stop it).
        timeout = REAL_REST_TIMEOUT_S if target.kind == "real" else MOCK_REST_TIMEOUT_S
        profile = self.network.next()  # users spread round-robin over the run's network profiles

        async def make() -> StreamingClient:
            return StreamingClient(
                target.host,
                api_key=target.api_key,
                timeout=timeout,
                sink=self.sink,
                labels={"scenario": scenario},
                network_profile=profile,
            )

        client = self.bridge.run(make(), 10.0)
        self.clients.add(client)
        return client

    def release_client(self, client: StreamingClient) -> None:
        """Close a user's client: stops the sessions it still has open (bounded), then forgets it."""
        try:
            self.bridge.run(asyncio.wait_for(client.aclose(), CLEANUP_TIMEOUT_S), CLEANUP_TIMEOUT_S + 1)
        except TimeoutError as exc:
            log.warning("closing a client left sessions %s open: %s", sorted(client.open_sessions), exc)
        finally:
            self.clients.discard(client)

    async def acquire_slot(self, timeout: float) -> bool:
        """On the real service, wait for one of the capped session slots; True when one was taken."""
        target = self.target
        if target is None or target.max_sessions is None:
            return False
        if self._slots is None:
            self._slots = asyncio.Semaphore(target.max_sessions)
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout)
        except TimeoutError:
            self.record("session.create", None, "ms", False, "SessionCap")
            raise StreamingError(
                f"all {target.max_sessions} real-service session slots busy for {timeout:g}s"
            ) from None
        return True

    def release_slot(self) -> None:
        """Give back a slot taken by ``acquire_slot`` (on the loop thread)."""
        if self._slots is not None:
            self._slots.release()

    def live_sessions(self) -> int:
        """Sessions open in this process."""
        return sum(len(client.open_sessions) for client in list(self.clients))

    def total_live(self) -> int:
        """Sessions open in the whole run (master/local: this process plus the workers' last reports)."""
        return self.live_sessions() + sum(self._worker_live.values())

    def stop_open_sessions(self) -> None:
        """Stop every session a user of this process left open (bounded): nothing stays running, or billed."""
        clients = list(self.clients)
        if not clients or self.bridge.closed:
            return

        async def close_all() -> None:
            await asyncio.wait_for(
                asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True), CLEANUP_TIMEOUT_S
            )

        try:
            self.bridge.run(close_all(), CLEANUP_TIMEOUT_S + 1)
        except TimeoutError:
            left = sorted(s for c in clients for s in c.open_sessions)
            log.error("sessions still open after %gs: %s", CLEANUP_TIMEOUT_S, left)
        self.clients.difference_update(clients)

    # --- samples ---

    def record(
        self, metric: str, value: float | None, unit: str, ok: bool = True, error: str | None = None, **labels: Any
    ) -> None:
        """A sample taken on the hub (gauges, concurrency steps): same path as the harness's samples."""
        self.sink.record(metric, value, unit, ok, error, **labels)

    def _drain_loop(self) -> None:
        last_send = 0.0
        while True:
            gevent.sleep(DRAIN_INTERVAL_S)
            self.drain()
            now = gevent.get_hub().loop.now()
            if self.role == "worker" and now - last_send >= SEND_INTERVAL_S and (self._outbox or self.clients):
                last_send = now
                self._send_batch()

    def drain(self) -> None:
        """Fire and store (or forward) everything recorded so far."""
        for sample in self.sink.take():
            if self.stopping and not sample["ok"] and sample["metric"] in _SETUP_MILESTONES:
                continue  # a setup cut short by the end of the run measured nothing and failed nothing
            fire(self.environment, sample)
            if self.role == "worker":
                sample["worker"] = getattr(self.environment.runner, "worker_index", None)
                self._outbox.append(sample)
            else:
                self._store(sample)

    def _store(self, sample: dict[str, Any]) -> None:
        if self.writer is not None and not self.writer.closed:
            write(self.writer, sample)
        for observer in self.observers:
            observer(sample)

    def _send_batch(self, done: bool = False) -> None:
        batch, self._outbox = self._outbox, []
        runner = self.environment.runner
        if runner is not None:
            runner.send_message(MSG_SAMPLES, {"samples": batch, "live": self.live_sessions(), "done": done})

    def _on_samples(self, environment: Environment, msg: Any, **_: Any) -> None:
        """Master: a worker's batch."""
        data = msg.data or {}
        self._worker_live[msg.node_id] = int(data.get("live", 0))
        for sample in data.get("samples", []):
            self._store(sample)
        if data.get("done"):
            self._worker_live[msg.node_id] = 0
            self._flushed.add(msg.node_id)
            self._flush_event.set()

    def _on_flush(self, environment: Environment, msg: Any, **_: Any) -> None:
        """Worker: the master ends the run; stop our users (which stops their sessions), send what is left."""
        runner = environment.runner
        if runner is not None and runner.state in (STATE_SPAWNING, STATE_RUNNING):
            runner.stop()  # fires test_stop here, which sends the final batch
        else:
            self.drain()
            self._send_batch(done=True)

    def _gauge_loop(self) -> None:
        while True:
            gevent.sleep(GAUGE_INTERVAL_S)
            if self.writer is not None and not self.writer.closed and not self.stopping:
                self.record("sessions.live", self.total_live(), "count")

    # --- run lifecycle ---

    def open_run(self) -> None:
        """Master/local, at test start: a new run id, its run file and its ``run`` line."""
        self.stopping = False
        self.report_path = None
        self.run_id = new_run_id()
        run_dir = Path(getattr(self.options, "run_dir", "reports/runs")) / self.run_id
        runner = self.environment.runner
        target = self.target
        context = {
            "run_id": self.run_id,
            "target": target.kind if target else None,
            "host": target.host if target else self.environment.host,
            "scenario": ",".join(self.scenarios) or None,
            "users": getattr(runner, "target_user_count", None),
            "duration_s": getattr(self.options, "run_time", None),
            "mock": self.mock.describe() if self.mock else None,
            "network_profile": self.network.run_label,
            "notes": f"locust {self.role}"
            + (f", {getattr(self.options, 'expect_workers', 1)} workers" if self.role == "master" else ""),
        }
        self.writer = RunWriter(run_dir / "samples.jsonl", context)
        log.info("run %s: samples go to %s", self.run_id, self.writer.path)

    def end_of_test(self) -> None:
        """test_stop: stop what is still open, collect the last samples, close the run file, build the report."""
        self.stopping = True
        self.stop_open_sessions()
        self.drain()
        if self.role == "worker":
            self._send_batch(done=True)
            return
        if self.role == "master":
            self._collect_workers()
        self.drain()
        self._close_run()

    def _collect_workers(self) -> None:
        runner = self.environment.runner
        if not isinstance(runner, MasterRunner):
            return
        workers = {client.id for client in runner.clients.all if client.state != STATE_MISSING}
        self._flushed.clear()
        for worker in workers:
            runner.send_message(MSG_FLUSH, None, client_id=worker)
        with gevent.Timeout(FLUSH_TIMEOUT_S, False):
            while not workers <= self._flushed:
                self._flush_event.clear()
                self._flush_event.wait(1.0)
        missing = workers - self._flushed
        if missing:
            log.warning("no final samples from workers %s within %gs", sorted(missing), FLUSH_TIMEOUT_S)
        self._worker_live.clear()

    def _close_run(self) -> None:
        writer = self.writer
        if writer is None or writer.closed:
            return
        runner = self.environment.runner
        failed = bool(runner is not None and (runner.errors or runner.exceptions))
        code = self.environment.process_exit_code
        writer.close(code if code is not None else int(failed))
        try:
            self.report_path = build_report(writer.path, writer.path.parent / "report.html")
            update_index(writer.path.parent.parent)
        except Exception:  # the run file is the result; a broken report must not hide it
            log.exception("could not build the HTML report for %s", writer.path)
            return
        log.info("report: %s", self.report_path)

    def shutdown(self) -> None:
        """quitting: end a run still going, stop the embedded mock, stop the bridge."""
        runner = self.environment.runner
        if runner is not None and runner.state in (STATE_SPAWNING, STATE_RUNNING):
            runner.stop()  # users stop (and stop their sessions) before anything is torn down
        self.stop_open_sessions()
        self.drain()
        self._close_run()
        for greenlet in self._greenlets:
            greenlet.kill(block=False)
        if self.mock is not None:
            self.mock.stop()
        self.bridge.close()


# --- scenario selection ---


def select_scenarios(environment: Environment) -> list[str]:
    """Keep the user classes the run selected (tags, class names) and decide whether the shape applies.

    Locust keeps a user class whose tasks were all filtered out by ``--tags`` (and then fails to run it), and
    a ``LoadTestShape`` in any file of a directory applies to the whole run: so classes left without tasks are
    dropped here, and the concurrency scenario (whose shape steps the user count) only runs when it is
    selected by ``--tags concurrency`` or by its class name, and then alone.
    """
    opts = environment.parsed_options
    tags = set(getattr(opts, "tags", None) or [])
    drop_untagged(environment)
    environment._filter_tasks_by_tags()
    classes = [cls for cls in environment.user_classes if cls.tasks]
    named = set(getattr(opts, "user_classes", None) or [])
    concurrency = [cls for cls in classes if getattr(cls, "scenario", None) == CONCURRENCY]
    chosen = CONCURRENCY in tags or any(cls.__name__ in named for cls in concurrency)
    if concurrency and not chosen:
        classes = [cls for cls in classes if cls not in concurrency]
    elif chosen and len(classes) > len(concurrency):
        others = sorted(cls.__name__ for cls in classes if cls not in concurrency)
        raise TargetRefused(f"the concurrency scenario steps the user count itself: run it alone, not with {others}")
    if not classes:
        raise TargetRefused("no scenario selected: tags are creation, speech, bandwidth, concurrency")
    environment.user_classes[:] = classes
    if not chosen:
        environment.shape_class = None
    return sorted({getattr(cls, "scenario", cls.__name__) for cls in classes})


def drop_untagged(environment: Environment) -> None:
    """Drop user classes without a task the run's ``--tags`` select (locust would warn they will fail)."""
    tags = set(getattr(environment.parsed_options, "tags", None) or [])
    if tags:
        environment.user_classes[:] = [
            cls
            for cls in environment.user_classes
            if any(hasattr(t, "tasks") or tags & getattr(t, "locust_tag_set", set()) for t in cls.tasks)
        ]


# --- locust event hooks ---


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    # Straight on the parser: only its add_argument knows locust's web UI keywords (argument groups do not).
    group = parser
    group.add_argument(
        "--heygen-real",
        action="store_true",
        default=False,
        include_in_web_ui=False,
        help="Allow the real service (needs HEYGEN_API_KEY; --host defaults to https://api.heygen.com).",
    )
    group.add_argument(
        "--max-real-sessions",
        type=int,
        default=3,
        include_in_web_ui=False,
        help="Sessions open at once on the real service, over all workers (default 3).",
    )
    group.add_argument("--quality", choices=["low", "medium", "high"], default="low", help="Session tier.")
    group.add_argument("--codec", choices=["VP8", "H264"], default="VP8", help="Video codec requested.")
    group.add_argument(
        "--flow", choices=["v1", "seed", "v2"], default="v1", help="v1 (server offer), seed (client offer), v2 (room)."
    )
    group.add_argument(
        "--receive",
        choices=["count", "decode", "wire"],
        default="count",
        help="count: meter video RTP, decode audio; decode: decode video too; wire: count RTP off the socket, no"
        " decryption (cheapest: many sessions per core, no speech onset).",
    )
    group.add_argument(
        "--no-media", action="store_true", default=False, help="Control plane only: sessions without WebRTC."
    )
    group.add_argument("--media-timeout", type=float, default=10.0, help="Seconds to wait for a media milestone.")
    group.add_argument("--keep-alive", type=float, default=30.0, help="Keep-alive interval of held sessions (s).")
    group.add_argument("--media-window", type=float, default=5.0, help="Seconds per media.bitrate/fps/freezes sample.")
    add_network_arguments(group)
    group.add_argument("--sentences", default="short,medium,long", help="Speech scenario: sentence lengths to speak.")
    group.add_argument("--think-time", default="1,3", help="Speech scenario: seconds between sentences (min,max).")
    group.add_argument(
        "--interrupt-every", type=int, default=7, help="Speech scenario: interrupt every Nth sentence (0: never)."
    )
    group.add_argument("--tiers", default="low,medium,high", help="Bandwidth scenario: tiers to hold.")
    group.add_argument("--codecs", default="VP8,H264", help="Bandwidth scenario: codecs to hold.")
    group.add_argument("--step-users", type=int, default=1, help="Concurrency scenario: sessions added per step.")
    group.add_argument("--step-seconds", type=float, default=15.0, help="Concurrency scenario: seconds per step.")
    group.add_argument("--max-step-users", type=int, default=200, help="Concurrency scenario: stop stepping here.")
    group.add_argument(
        "--mock-concurrency-limit",
        type=int,
        default=None,
        help="Embedded mock's sessions per key (default: the mock's own for concurrency, else unlimited).",
    )
    group.add_argument("--mock-latency-profile", default="fast", help="Embedded mock's latency profile.")
    group.add_argument("--run-dir", default="reports/runs", help="Where run files and reports go.")
    group.add_argument("--mock-key", default=None, include_in_web_ui=False, help=argparse.SUPPRESS)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    global _runtime
    if environment.parsed_options is None:  # a library Environment (tests): nothing to wire
        return
    for noisy in ("httpx", "httpcore", "aioice", "aiortc"):  # one line per request or ICE check otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    rt = _runtime = Runtime(environment)
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.register_message(MSG_SAMPLES, rt._on_samples)
    elif isinstance(runner, WorkerRunner):
        runner.register_message(MSG_FLUSH, rt._on_flush)
        # Tags reach a worker with the master's spawn message, right before locust filters tasks by them.
        filter_tasks = environment._filter_tasks_by_tags

        def drop_untagged_then_filter() -> None:
            drop_untagged(environment)
            filter_tasks()

        environment._filter_tasks_by_tags = drop_untagged_then_filter  # type: ignore[method-assign]
    try:
        if rt.role != "worker":
            rt.scenarios = select_scenarios(environment)
            rt.resolve_target(getattr(environment.parsed_options, "host", None))
    except TargetRefused as refused:
        log.error("%s", refused)
        rt.shutdown()
        sys.exit(refused.code)
    except RuntimeError as failed:  # the embedded mock did not come up: say why, without a traceback
        log.error("%s", failed)
        rt.shutdown()
        sys.exit(1)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    rt = _runtime
    if rt is None:
        return
    rt.stopping = False
    try:
        if rt.role == "worker" or rt.target is None or environment.host != rt.target.host:
            rt.resolve_target(environment.host)  # the web UI may have changed the host since init: check it again
    except TargetRefused as refused:
        log.error("%s: stopping the test, no session will be opened", refused)
        rt.target = None
        if environment.runner is not None:
            gevent.spawn(environment.runner.stop)
    if rt.role != "worker":
        rt.open_run()


@events.test_stopping.add_listener
def _on_test_stopping(**_: Any) -> None:
    if _runtime is not None:
        _runtime.stopping = True


@events.test_stop.add_listener
def _on_test_stop(**_: Any) -> None:
    if _runtime is not None:
        _runtime.end_of_test()


@events.quitting.add_listener
def _on_quitting(**_: Any) -> None:
    if _runtime is not None:
        _runtime.shutdown()


@events.quit.add_listener
def _on_quit(**_: Any) -> None:
    # Locust prints its tables after quitting: repeat the report's path so it is the run's last line.
    if _runtime is not None and _runtime.report_path is not None:
        print(f"report: {_runtime.report_path}", flush=True)
