"""The mock process's own resource use, for soak tests: memory, file descriptors, asyncio tasks, threads."""

from __future__ import annotations

import asyncio
import os
import resource
import threading
from pathlib import Path


def process_info() -> dict[str, int]:
    """Current RSS (bytes), open file descriptors, live asyncio tasks on this loop, and threads."""
    return {
        "rss_bytes": _rss_bytes(),
        "open_fds": _open_fds(),
        "asyncio_tasks": len(asyncio.all_tasks()),
        "threads": threading.active_count(),
    }


def _rss_bytes() -> int:
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    # Elsewhere, the peak is the best the standard library offers (kilobytes on Linux/BSD, bytes on macOS).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _open_fds() -> int:
    fd_dir = Path("/proc/self/fd")
    return len(os.listdir(fd_dir)) if fd_dir.exists() else -1
