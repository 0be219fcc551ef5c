"""Concurrency limits (tag ``concurrency``): step live sessions up until the service refuses or quality drops.

``ConcurrencyShape`` adds ``--step-users`` sessions every ``--step-seconds``; each ``ConcurrencyUser`` holds
one session and its media is sampled every ``--media-window`` seconds. At the end of each step the step is
judged and written as a ``concurrency.step`` sample: held (value = sessions live) when every session of the
step is up and at target, failed otherwise (value = sessions attempted; ``error`` says what failed first:
``10007`` when the service refused, a metric's error, ``degraded`` or ``not_up``). The run ends at the first
failed step; the highest held step is the answer.

The shape drives the whole run, so this scenario only runs when selected (``--tags concurrency`` or the class
name) and then alone; ``locust -f loadtests/`` without tags runs the other scenarios without the shape.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from locust import LoadTestShape, constant, events, tag, task

from loadtests._base import StreamingUser
from loadtests._runtime import Runtime, runtime

log = logging.getLogger("loadtests")

#: A window below these fractions of its target is degraded; any freeze is.
MIN_FPS_RATIO = 0.8
MIN_BITRATE_RATIO = 0.7


class ConcurrencyUser(StreamingUser):
    scenario = "concurrency"
    wait_time = constant(5.0)

    def on_start(self) -> None:
        super().on_start()
        self.hold_session()  # a refusal (10007) is recorded; this user then only waits

    @tag("concurrency")
    @task
    def hold(self) -> None:
        if self.session is not None and not self.attempt(self.session.keep_alive()):
            self.drop_session()


@dataclass(slots=True)
class StepVerdict:
    """One judged step."""

    step: int
    users: int
    held: int
    ok: bool
    error: str | None = None
    detail: str = ""


@dataclass(slots=True)
class StepMonitor:
    """Watches the run's samples (on the master, or the local process) to judge each step."""

    media: bool
    window_s: float
    samples: list[dict[str, Any]] = field(default_factory=list)
    #: Failures among the samples already let go by ``forget_before``.
    earlier_failures: int = 0

    def observe(self, sample: dict[str, Any]) -> None:
        if not sample["ok"] or sample["metric"].startswith("media."):
            self.samples.append(sample)

    def forget_before(self, ts: float) -> None:
        """Drop what no later step is judged on (a long staircase would otherwise keep every window)."""
        gone = [s for s in self.samples if s["ts"] < ts]
        self.earlier_failures += sum(1 for s in gone if not s["ok"])
        self.samples = [s for s in self.samples if s["ts"] >= ts]

    def failed_since(self, started: float) -> bool:
        """Whether anything failed since ``started``: the step's verdict need not wait for its end."""
        return any(not s["ok"] and s["ts"] >= started for s in self.samples)

    def judge(self, step: int, users: int, held: int, started: float, ended: float) -> StepVerdict:
        """What failed first in ``[started, ended]``, else whether every session was up and at target."""
        in_step = [s for s in self.samples if started <= s["ts"] <= ended]
        failures = sorted((s for s in in_step if not s["ok"]), key=lambda s: s["ts"])
        refused = [s for s in failures if s["error"] == "10007"]
        if refused:
            return StepVerdict(step, users, held, False, "10007", "the service refused a session (concurrent limit)")
        if failures:
            first = failures[0]
            return StepVerdict(step, users, held, False, first["error"], f"{first['metric']} failed")
        if held < users:
            return StepVerdict(step, users, held, False, "not_up", f"only {held} of {users} sessions up")
        if not self.media:
            return StepVerdict(step, users, held, True)
        # Judge media only once every session of this step had a full window to report.
        measured = [s for s in in_step if s["ts"] >= started + self.window_s]
        degraded = [s for s in measured if _below_target(s)]
        if degraded:
            first = min(degraded, key=lambda s: s["ts"])
            return StepVerdict(
                step, users, held, False, "degraded", f"{first['metric']} {first['value']} vs target {first['target']}"
            )
        sessions = {s.get("session") for s in measured if s["metric"] == "media.fps"}
        if len(sessions) < held:
            return StepVerdict(step, users, held, False, "not_measured", f"media from {len(sessions)} of {held}")
        return StepVerdict(step, users, held, True)


def _below_target(sample: dict[str, Any]) -> bool:
    metric, value, target = sample["metric"], sample["value"], sample.get("target")
    if value is None:
        return False
    if metric == "media.freezes":
        return bool(value > 0)
    if metric == "media.fps" and target:
        return bool(value < MIN_FPS_RATIO * target)
    if metric == "media.bitrate" and target:
        return bool(value < MIN_BITRATE_RATIO * target)
    return False


class ConcurrencyShape(LoadTestShape):
    """Steps of ``--step-users`` sessions every ``--step-seconds`` until a step fails (or the run time ends)."""

    # -u/-r are ignored and -t (applied by locust) bounds the whole search; this also keeps locust from warning
    # about -u/-r in runs of the other scenarios, where the shape is switched off.
    use_common_options = True

    def __init__(self) -> None:
        super().__init__()
        self._reset()

    def _reset(self) -> None:
        old: StepMonitor | None = getattr(self, "monitor", None)
        if old is not None:  # a new run in the web UI: the last run's monitor stops listening
            with contextlib.suppress(RuntimeError, ValueError):
                runtime().observers.remove(old.observe)
        self.monitor: StepMonitor | None = None
        self.verdicts: list[StepVerdict] = []
        self.users = 0
        self.step_started = 0.0
        self.finished = False

    def reset_time(self) -> None:
        super().reset_time()
        self._reset()

    def tick(self) -> tuple[int, float] | None:
        rt = runtime()
        opts = rt.options
        step_users = max(int(getattr(opts, "step_users", 1)), 1)
        step_seconds = float(getattr(opts, "step_seconds", 15.0))
        if self.monitor is None:
            self.monitor = StepMonitor(not getattr(opts, "no_media", False), float(getattr(opts, "media_window", 5.0)))
            rt.observers.append(self.monitor.observe)
        if self.finished:
            return None
        now = time.time()
        if self.users == 0:
            self._next_step(step_users, now)
        elif now - self.step_started >= step_seconds or self.monitor.failed_since(self.step_started):
            verdict = self.monitor.judge(len(self.verdicts) + 1, self.users, rt.total_live(), self.step_started, now)
            self._record(rt, verdict)
            if not verdict.ok or self.users + step_users > int(getattr(opts, "max_step_users", 200)):
                self._finish(rt)
                return None
            self.monitor.forget_before(now)
            self._next_step(self.users + step_users, now)
        return self.users, float(step_users)

    def _next_step(self, users: int, now: float) -> None:
        self.users = users
        self.step_started = now
        log.info("concurrency step %d: %d sessions", len(self.verdicts) + 1, users)

    def _record(self, rt: Runtime, verdict: StepVerdict) -> None:
        self.verdicts.append(verdict)
        value = verdict.held if verdict.ok else verdict.users
        rt.record(
            "concurrency.step",
            value,
            "count",
            verdict.ok,
            verdict.error,
            target=verdict.users,
            scenario="concurrency",
            step=verdict.step,
            held=verdict.held,
            detail=verdict.detail,
        )

    def _finish(self, rt: Runtime) -> None:
        self.finished = True
        log.info("%s", self.summary())
        failed = [v for v in self.verdicts if not v.ok]
        runner = rt.environment.runner
        # The failing step is the finding, not an error of the run: exit 0 when it is the only place anything failed.
        if self.monitor is not None and failed and runner is not None and not runner.exceptions:
            last = failed[-1]
            earlier = self.monitor.earlier_failures + sum(
                1 for s in self.monitor.samples if not s["ok"] and s["ts"] < self.step_started
            )
            if last is self.verdicts[-1] and not earlier and any(v.ok for v in self.verdicts):
                rt.environment.process_exit_code = 0

    def summary(self) -> str:
        held = [v for v in self.verdicts if v.ok]
        best = f"held {held[-1].held} sessions with every session at target" if held else "held no step"
        failed = next((v for v in self.verdicts if not v.ok), None)
        if failed is None:
            return f"concurrency: {best}; no step failed (up to {self.users} sessions)"
        return f"concurrency: {best}; first failure at {failed.users} sessions: {failed.error} ({failed.detail})"


@events.test_stop.add_listener
def _report_unfinished(environment: Any, **_: Any) -> None:
    shape = environment.shape_class
    if isinstance(shape, ConcurrencyShape) and shape.verdicts and not shape.finished:
        log.info("%s", shape.summary())
