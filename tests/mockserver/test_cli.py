"""``avatar-mock serve``: prints its URL, serves, stops on SIGTERM; bad settings exit 2 without a traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def test_serve_on_a_free_port_then_stop() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--no-media"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.removeprefix("listening on ")
        with urllib.request.urlopen(f"{url}/openapi.json", timeout=5) as response:
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_bad_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("concurrency_limit = -1\n")
    result = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "invalid settings" in result.stderr and "Traceback" not in result.stderr


def test_a_client_that_never_finishes_its_headers_is_disconnected() -> None:
    """Slow-loris: header lines trickled forever are cut off at ``connection_idle_timeout_s``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--no-media"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "AVATAR_MOCK_CONNECTION_IDLE_TIMEOUT_S": "1"},
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"POST /v1/streaming.list HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sock.setblocking(False)  # peeking must not wait
            started = time.monotonic()
            for n in range(40):  # a header line every 0.25 s, for up to 10 s
                time.sleep(0.25)
                if _closed_by_peer(sock, b"X-Trickle-%d: 1\r\n" % n):
                    break
            else:
                pytest.fail("the mock kept a connection whose headers never ended")
            assert 0.9 < time.monotonic() - started < 5
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def _closed_by_peer(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.sendall(data)
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:  # open, nothing to read
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True
