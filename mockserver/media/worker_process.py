"""A media worker process: a real MediaPlane driven over a socket by ``mockserver.media.workers``.

Started by the parent as ``python -m mockserver.media.worker_process FD``. Runs until the socket reaches EOF
(the parent closed it, or died), then closes its peers and exits: a worker never outlives the control plane.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from typing import Any

from mockserver.config import Settings, Tier
from mockserver.media.errors import MediaError
from mockserver.media.peer import AvatarPeer
from mockserver.media.plane import MediaPlane
from mockserver.media.workers import (
    PEER_CALLS,
    PEER_NOTIFY,
    PLANE_NOTIFY,
    STATS_INTERVAL_S,
    decode_value,
    encode_message,
    read_message,
)

logger = logging.getLogger("mockserver.media.worker")
#: How long an exiting worker gives its peers to close (the parent escalates to signals after its own grace).
CLOSE_TIMEOUT_S = 5.0


class WorkerServer:
    """Answers the parent's requests with one MediaPlane; reports peer states and counters back."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._peers: dict[int, AvatarPeer] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, reader: asyncio.StreamReader) -> None:
        init = await read_message(reader)
        logging.basicConfig(
            level=int(init.get("log_level", logging.WARNING)),
            format=f"%(asctime)s %(levelname)s media-worker-{init.get('index')}[%(process)d] %(name)s: %(message)s",
        )
        plane = MediaPlane(Settings.model_validate(init["settings"]))
        await plane.start()
        self._send({"ev": "ready"})
        reporter = asyncio.create_task(self._report_stats())
        try:
            while True:
                message = await read_message(reader)
                try:
                    self._dispatch(plane, message)
                except Exception:  # a malformed request must not take the worker's other sessions down
                    logger.exception("cannot handle a %r request", message.get("op"))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the parent is done with us (or gone)
        finally:
            reporter.cancel()
            for task in self._tasks:
                task.cancel()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(plane.close(), CLOSE_TIMEOUT_S)

    def _dispatch(self, plane: MediaPlane, message: dict[str, Any]) -> None:
        op = message.get("op")
        args = message.get("args", [])
        if op == "open":
            self._open(plane, message)
        elif op == "call":
            task = asyncio.create_task(self._call(message["id"], message["peer"], message["method"], args))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif op == "notify":
            peer = self._peers.get(message["peer"])
            if peer is not None and message["method"] in PEER_NOTIFY:
                self._invoke(peer, message["method"], args)
        elif op == "plane" and message["method"] in PLANE_NOTIFY:
            self._invoke(plane, message["method"], args)

    def _open(self, plane: MediaPlane, message: dict[str, Any]) -> None:
        peer_id = int(message["peer"])

        def on_state(state: str) -> None:
            peer = self._peers.get(peer_id)
            stats = peer.stats() if peer is not None else None
            if state == "closed":
                self._peers.pop(peer_id, None)
            self._send({"ev": "state", "peer": peer_id, "state": state, "stats": stats})

        try:
            tier = Tier.model_validate(message["tier"])
            self._peers[peer_id] = plane.open_peer(message["session_id"], tier, message["codec"], on_state)
        except MediaError as exc:
            logger.warning("session %s: cannot open a peer: %s", message.get("session_id"), exc)
            self._send({"ev": "state", "peer": peer_id, "state": "closed", "stats": None})

    async def _call(self, request_id: int, peer_id: int, method: str, args: list[Any]) -> None:
        peer = self._peers.get(peer_id)
        try:
            if peer is None or method not in PEER_CALLS:
                raise MediaError("media: session closed")
            result = await getattr(peer, method)(*[decode_value(a) for a in args])
        except MediaError as exc:
            self._send({"re": request_id, "error": str(exc), "media": True})
        except Exception as exc:  # a bug: logged here, a 500 in the parent
            logger.exception("session %s: %s failed", peer.session_id if peer else "?", method)
            self._send({"re": request_id, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
        else:
            self._send({"re": request_id, "ok": result})

    def _invoke(self, target: object, method: str, args: list[Any]) -> None:
        """A sync method the parent does not wait for: a failure is logged here."""
        try:
            getattr(target, method)(*[decode_value(a) for a in args])
        except Exception:
            logger.exception("%s.%s failed", type(target).__name__, method)

    async def _report_stats(self) -> None:
        while True:
            await asyncio.sleep(STATS_INTERVAL_S)
            if self._peers:
                self._send({"ev": "stats", "peers": {str(i): p.stats() for i, p in self._peers.items()}})

    def _send(self, message: dict[str, Any]) -> None:
        if not self._writer.is_closing():
            self._writer.write(encode_message(message))


async def serve(fd: int) -> None:
    reader, writer = await asyncio.open_unix_connection(sock=socket.socket(fileno=fd))
    try:
        await WorkerServer(writer).run(reader)
    finally:
        writer.close()


def main() -> None:
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(serve(int(sys.argv[1])))
    # Peers are closed: skip the interpreter's teardown (about a second of module finalization), so a
    # shutdown with several workers stays well inside its time budget.
    logging.shutdown()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
