"""A WebSocket that synchronous code can send on: a queue drained in order by one writer task."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web


class QueuedSocket:
    """Ordered, non-blocking sends (bytes or JSON text) and a close that flushes first; idempotent close."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self._queue: asyncio.Queue[bytes | str | None] = asyncio.Queue()
        self._writer = asyncio.get_running_loop().create_task(self._write())
        self.closed = False

    def send_bytes(self, data: bytes) -> None:
        if not self.closed:
            self._queue.put_nowait(data)

    def send_json(self, payload: dict[str, Any]) -> None:
        if not self.closed:
            self._queue.put_nowait(json.dumps(payload, separators=(",", ":")))

    async def close(self) -> None:
        """Send what is queued, then close the socket."""
        if self.closed:
            return
        self.closed = True
        self._queue.put_nowait(None)
        await self._writer
        await self.ws.close()

    async def _write(self) -> None:
        while (item := await self._queue.get()) is not None:
            try:
                if isinstance(item, bytes):
                    await self.ws.send_bytes(item)
                else:
                    await self.ws.send_str(item)
            except (ConnectionError, RuntimeError):  # the client is gone; nothing more can be sent
                return
