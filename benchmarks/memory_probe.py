"""What a process's memory looks like from inside (Linux, glibc): RSS, its ``[heap]``, malloc's bytes in use.

Shared by ``memory_per_session.py``'s in-process modes and the probe it boots inside the mock process, so both
read memory the same way.
"""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path
from typing import Any

try:
    _libc: Any = ctypes.CDLL("libc.so.6")
    _libc.malloc_trim.argtypes = [ctypes.c_size_t]
except OSError:  # not glibc: RSS and Python blocks only
    _libc = None


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def heap_rss() -> int:
    """Resident bytes of ``[heap]`` (glibc's main arena; pymalloc arenas and mmaps are elsewhere)."""
    resident, in_heap = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and not fields[0].endswith(":"):
            in_heap = fields[-1] == "[heap]"
        elif in_heap and fields[0] == "Rss:":
            resident += int(fields[1]) * 1024
    return resident


def heap_in_use() -> int:
    """Bytes glibc malloc has handed out and not got back (small + mmapped chunks); 0 when unknown."""
    if _libc is None or not hasattr(_libc, "mallinfo2"):
        return 0
    _libc.mallinfo2.restype = _Mallinfo2
    info = _libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


def malloc_trim() -> bool:
    """Give glibc's free memory back to the system; False when this is not glibc."""
    if _libc is None:
        return False
    _libc.malloc_trim(0)
    return True


def sample() -> dict[str, float]:
    return {"rss": rss(), "heap_rss": heap_rss(), "malloc": heap_in_use(), "pyblocks": sys.getallocatedblocks()}
