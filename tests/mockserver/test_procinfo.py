"""Process info reads real numbers on this platform."""

from __future__ import annotations

from mockserver.procinfo import process_info


async def test_process_info_counts_this_process() -> None:
    info = process_info()
    assert info["rss_bytes"] > 0 and info["open_fds"] > 0 and info["asyncio_tasks"] >= 1 and info["threads"] >= 1
