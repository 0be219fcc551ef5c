"""What a load run talks to, and the guard rails around it.

No ``--host``: the embedded mock, started here in a subprocess on a free loopback port. ``--host URL``:
another mock, loopback only. The real service (https://api.heygen.com) only with ``HEYGEN_API_KEY`` *and*
``--heygen-real``: it costs money, so it is never reached by accident and its sessions are capped.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from harness.urls import is_loopback_url

REAL_SERVICE_URL = "https://api.heygen.com"
API_KEY_ENV = "HEYGEN_API_KEY"
#: The embedded mock's per-key session limit for load runs: high enough never to be what a run measures.
LOAD_CONCURRENCY_LIMIT = 100_000
#: First start encodes the media clips (cached on disk afterwards), which takes a while on a small machine.
MOCK_START_TIMEOUT_S = 300.0
_LISTENING = re.compile(r"listening on (http://\S+)")


class TargetRefused(SystemExit):
    """The run would reach something it must not; exits locust with code 2 and a one-line reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(2)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True)
class Target:
    """Where requests go and with which key; ``kind`` is ``mock`` or ``real`` (the run file's ``target``)."""

    kind: str
    host: str
    api_key: str
    max_sessions: int | None = None


def check_host(host: str, real: bool) -> None:
    """Refuse a host the run may not reach: anything off-machine needs ``--heygen-real``."""
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(f"--host must be an http(s) URL, not {host!r}")
    if not real and not is_loopback_url(host):
        raise TargetRefused(
            f"refusing to load {host}: only loopback mocks are allowed without --heygen-real "
            f"(the real service needs {API_KEY_ENV} and --heygen-real)"
        )


def resolve(host: str | None, real: bool, max_sessions: int, generated_key: str | None = None) -> Target | None:
    """The target for these options, or None when the embedded mock should be started."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    if real:
        if not key:
            raise TargetRefused(f"--heygen-real needs the API key in {API_KEY_ENV}")
        if max_sessions < 1:
            raise TargetRefused("--max-real-sessions must be at least 1")
        target_host = host or REAL_SERVICE_URL
        check_host(target_host, real=True)
        return Target("real", target_host.rstrip("/"), key, max_sessions)
    if host:
        check_host(host, real=False)
        return Target("mock", host.rstrip("/"), key or generated_key or new_mock_key())
    return None


def new_mock_key() -> str:
    """A throwaway key for a mock target (the mock accepts any; one per run keeps its limits per run)."""
    return "loadtest-" + secrets.token_hex(8)


class EmbeddedMock:
    """``python -m mockserver serve`` in a subprocess on a free loopback port, stopped by ``stop()``."""

    def __init__(
        self,
        api_key: str,
        concurrency_limit: int | None,
        log_path: Path,
        media: bool = True,
        media_workers: int | None = None,
        latency_profile: str | None = None,
    ) -> None:
        self.api_key = api_key
        self.concurrency_limit = concurrency_limit
        self.latency_profile = latency_profile or "fast"
        self.media = media
        self.log_path = log_path
        cmd = [sys.executable, "-m", "mockserver", "serve", "--host", "127.0.0.1", "--port", "0"]
        cmd += ["--latency-profile", self.latency_profile, "--log-level", "WARNING"]
        if concurrency_limit is not None:
            cmd += ["--concurrency-limit", str(concurrency_limit)]
        if media:
            cmd += ["--media-workers", str(media_workers or os.cpu_count() or 1)]
        else:
            cmd += ["--no-media"]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        # Own process group: stop() can end the mock and any media workers it forked, and only those.
        # The key goes in the environment, not argv: any local user can read a process's command line.
        env = {**os.environ, "AVATAR_MOCK_API_KEYS": json.dumps([api_key])}
        self.process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
        self.url = ""

    def wait_ready(self, timeout: float = MOCK_START_TIMEOUT_S) -> str:
        """Until the mock prints ``listening on URL``; returns the URL. Raises if it exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = _LISTENING.search(self.log_path.read_text(errors="replace"))
            if found:
                self.url = found.group(1)
                return self.url
            if self.process.poll() is not None:
                raise RuntimeError(f"embedded mock exited with {self.process.returncode}; see {self.log_path}")
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"embedded mock not ready within {timeout:g}s; see {self.log_path}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGINT (the mock's clean shutdown), then SIGKILL to its process group if it lingers."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # media workers left behind, if any
        self._log.close()
        if self.process.returncode == 0:
            self.log_path.unlink(missing_ok=True)  # kept only when the mock failed

    def describe(self) -> dict[str, object]:
        """The run file's ``mock`` object."""
        return {
            "embedded": True,
            "latency_profile": self.latency_profile,
            "tier_profile": "seed",
            "concurrency_limit": self.concurrency_limit or 3,
            "media": self.media,
        }
