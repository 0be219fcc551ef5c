"""Media worker processes: WebRTC peers run in N child processes while the control plane stays in this one.

``WorkerMediaPlane`` is a MediaPlane (the control plane and v2 rooms keep the surface they know) whose
``open_peer`` hands out ``RemotePeer``s: AvatarPeer's methods, forwarded over a socketpair to a worker process
running a real MediaPlane (``mockserver.media.worker_process``). This process still encodes every clip once at
start-up (before any worker starts, so workers only read the disk cache), runs the one loopback STUN responder
and serves v2 rooms' media.

Wire format, both ways: a 4-byte big-endian length, then one JSON object. Parent -> worker: ``init`` (first),
``open`` a peer, ``call`` an async peer method (the worker answers ``{"re": id, "ok"|"error": ...}``),
``notify`` a sync peer method, ``plane`` (a sync MediaPlane method). Worker -> parent: ``ready``, ``state``
(a peer's on_state, with its latest stats), ``stats`` (every live peer's counters, each second) and answers.
EOF on the socket tells a worker to close its peers and exit, so a worker never outlives this process.

Workers are separate interpreters started with ``sys.executable -m`` (not forked: aiortc and PyAV run threads,
and ``multiprocessing``'s spawn would re-import the parent's ``__main__``); an exit is seen at once as EOF.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import json
import logging
import os
import socket
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import mockserver
from mockserver.config import NetworkConditions, Settings, Tier
from mockserver.media.errors import MediaError
from mockserver.media.peer import StateReporter
from mockserver.media.plane import CODECS, MediaPlane
from mockserver.media.sdp import VideoCodec

logger = logging.getLogger(__name__)

WORKER_MODULE = "mockserver.media.worker_process"
#: Peer methods the worker runs on request: async ones answer, sync ones (``notify``) do not.
PEER_CALLS = frozenset({"create_offer", "accept_answer", "answer_offer", "add_ice_candidate", "close"})
PEER_NOTIFY = frozenset({"set_talking", "send_event", "set_network"})
PLANE_NOTIFY = frozenset({"set_network"})
#: How often a worker reports its peers' counters (``RemotePeer.stats()`` is at most this old).
STATS_INTERVAL_S = 1.0
START_TIMEOUT_S = 60.0
#: Closing: a peer gets this long to close in its worker, then at shutdown each worker this long to exit
#: before SIGTERM (then SIGKILL).
PEER_CLOSE_GRACE_S = 1.5
WORKER_EXIT_GRACE_S = 1.0
#: A worker that dies sooner than this after starting is restarted with a growing delay (crash-loop guard).
STABLE_UPTIME_S = 10.0
MAX_RESTART_DELAY_S = 30.0
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_HEADER = struct.Struct("!I")
_MODEL_TAG = "$model"


# ------------------------------------------------------------------------------------------- wire


def encode_message(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return _HEADER.pack(len(body)) + body


async def read_message(reader: asyncio.StreamReader) -> dict[str, Any]:
    """The next message; ``asyncio.IncompleteReadError`` at EOF, ValueError on a malformed one."""
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    if size > MAX_MESSAGE_BYTES:
        raise ValueError(f"media worker message of {size} bytes")
    message = json.loads(await reader.readexactly(size))
    if not isinstance(message, dict):
        raise ValueError("media worker message is not an object")
    return message


def encode_value(value: Any) -> Any:
    """An argument as JSON: pydantic models (e.g. network conditions) travel by class name and are rebuilt."""
    if isinstance(value, BaseModel):
        cls = type(value)
        return {_MODEL_TAG: f"{cls.__module__}:{cls.__qualname__}", "data": value.model_dump(mode="json")}
    return value


def decode_value(value: Any) -> Any:
    if isinstance(value, dict) and _MODEL_TAG in value:
        module, _, name = str(value[_MODEL_TAG]).partition(":")
        if not module.startswith("mockserver."):
            raise ValueError(f"media worker: refusing model {module}:{name}")
        cls = getattr(importlib.import_module(module), name)
        return cls.model_validate(value["data"])
    return value


def _child_env() -> dict[str, str]:
    """Workers import this very ``mockserver`` (the parent's checkout, installed or not)."""
    root = str(Path(mockserver.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


# ------------------------------------------------------------------------------------------- peer


class RemotePeer:
    """An AvatarPeer living in a worker process, with the same methods and the same ``on_state`` rules.

    If its worker dies, it reports "failed" then "closed" (the control plane ends the session) and later
    calls fail like a closed peer's. ``stats()`` is the worker's latest report ({} until the first one).
    """

    def __init__(
        self,
        peer_id: int,
        session_id: str,
        tier: Tier,
        codec: VideoCodec,
        on_state: Callable[[str], None],
        worker: _Worker,
    ) -> None:
        self.peer_id = peer_id
        self.session_id = session_id
        self.tier = tier
        self.codec = codec
        self.worker_pid = worker.pid
        self._states = StateReporter(session_id, on_state)
        self._worker: _Worker | None = worker
        self._stats: dict[str, int] = {}
        self._network: NetworkConditions | None = None
        self._close_task: asyncio.Future[None] | None = None

    async def create_offer(self) -> str:
        return str(await self._call("create_offer"))

    async def accept_answer(self, sdp_text: str) -> None:
        await self._call("accept_answer", sdp_text)

    async def answer_offer(self, sdp_text: str) -> str:
        return str(await self._call("answer_offer", sdp_text))

    async def add_ice_candidate(self, candidate: dict[str, Any]) -> None:
        if not self._closing:  # like AvatarPeer: a candidate for a closed session is ignored
            await self._call("add_ice_candidate", candidate)

    def set_talking(self, talking: bool) -> None:
        self._notify("set_talking", bool(talking))

    def send_event(self, event: dict[str, Any]) -> None:
        self._notify("send_event", event)

    def set_network(self, conditions: NetworkConditions | None) -> None:
        """This session's own conditions (None: back to the plane's default), applied in its worker."""
        self._network = conditions
        self._notify("set_network", conditions)

    @property
    def network(self) -> NetworkConditions | None:
        """The session's own conditions, as last set here."""
        return self._network

    def stats(self) -> dict[str, int]:
        return dict(self._stats)

    async def close(self) -> None:
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close())
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        worker = self._worker
        try:
            if worker is not None:
                # A worker that died meanwhile has nothing left to close; one that hangs is not waited for
                # (shutdown stays bounded; the plane ends such a worker).
                with contextlib.suppress(MediaError, TimeoutError):
                    await asyncio.wait_for(worker.call(self.peer_id, "close", []), PEER_CLOSE_GRACE_S)
        finally:
            self._detach()
            self._states.report("closed")

    @property
    def _closing(self) -> bool:
        return self._close_task is not None or self._worker is None

    async def _call(self, method: str, *args: Any) -> Any:
        worker = self._worker
        if worker is None or self._close_task is not None:
            raise MediaError("media: session closed")
        return await worker.call(self.peer_id, method, [encode_value(a) for a in args])

    def _notify(self, method: str, *args: Any) -> None:
        if self._worker is not None and self._close_task is None:
            args_json = [encode_value(a) for a in args]
            self._worker.send({"op": "notify", "peer": self.peer_id, "method": method, "args": args_json})

    # --- from the worker ---

    def update_stats(self, stats: dict[str, int] | None) -> None:
        if stats:
            self._stats = stats

    def remote_state(self, state: str, stats: dict[str, int] | None) -> None:
        self.update_stats(stats)
        self._states.report(state)
        if state == "closed":
            self._detach()

    def worker_lost(self) -> None:
        self._worker = None
        self._states.report("failed")
        self._states.report("closed")

    def _detach(self) -> None:
        if self._worker is not None:
            self._worker.peers.pop(self.peer_id, None)
            self._worker = None


# ----------------------------------------------------------------------------------------- worker


class _Worker:
    """One worker process and the request/answer channel to it."""

    def __init__(self, index: int, on_lost: Callable[[_Worker, int], None], quick_crashes: int = 0) -> None:
        self.index = index
        self.quick_crashes = quick_crashes
        self.peers: dict[int, RemotePeer] = {}
        self.ready = False
        self.lost = False
        self.stopping = False
        self.started_at = time.monotonic()
        self._on_lost = on_lost
        self._proc: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._ready = asyncio.Event()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self, init: dict[str, Any], network: Any) -> None:
        """Start the process and wait until its MediaPlane runs; raises (after cleaning up) if it cannot."""
        parent_end, child_end = socket.socketpair()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                WORKER_MODULE,
                str(child_end.fileno()),
                pass_fds=(child_end.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                env=_child_env(),
            )
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        try:
            reader, self._writer = await asyncio.open_unix_connection(sock=parent_end)
            self._reader_task = asyncio.create_task(self._read(reader))
            self.send({"op": "init", **init})
            await asyncio.wait_for(self._ready.wait(), START_TIMEOUT_S)
            if self.lost:
                raise RuntimeError(f"media worker {self.index} exited during start-up")
        except BaseException:
            if self._writer is None:
                parent_end.close()
            await self.stop(0)
            raise
        if network is not None:
            self.send({"op": "plane", "method": "set_network", "args": [network]})
        self.started_at = time.monotonic()
        self.ready = True

    def open(self, peer: RemotePeer) -> None:
        self.peers[peer.peer_id] = peer
        tier = peer.tier.model_dump(mode="json")
        self.send(
            {"op": "open", "peer": peer.peer_id, "session_id": peer.session_id, "tier": tier, "codec": peer.codec}
        )

    def send(self, message: dict[str, Any]) -> None:
        writer = self._writer
        if writer is not None and not self.lost and not writer.is_closing():
            writer.write(encode_message(message))

    async def call(self, peer_id: int, method: str, args: list[Any]) -> Any:
        if self.lost:
            raise MediaError("media: media worker exited")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self.send({"op": "call", "id": request_id, "peer": peer_id, "method": method, "args": args})
            return await future
        finally:
            self._pending.pop(request_id, None)

    async def stop(self, grace: float) -> int | None:
        """EOF asks the worker to close its peers and exit; after ``grace`` SIGTERM, then SIGKILL. Returns the
        exit code."""
        self.stopping = True
        if self._writer is not None:
            self._writer.close()
        proc = self._proc
        if proc is not None:
            for escalate in (proc.terminate, proc.kill):
                try:
                    await asyncio.wait_for(proc.wait(), grace)
                    break
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        escalate()
                    grace = 1.0
            else:
                await proc.wait()
        if self._reader_task is not None:
            await asyncio.gather(self._reader_task, return_exceptions=True)
        return proc.returncode if proc is not None else None

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                self._dispatch(await read_message(reader))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            if not isinstance(exc, asyncio.IncompleteReadError) and not self.stopping:
                logger.error("media worker %d: channel broken (%s)", self.index, exc)
        finally:
            self._lose()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "re" in message:
            future = self._pending.get(message["re"])
            if future is None or future.done():
                return
            if "error" not in message:
                future.set_result(message.get("ok"))
            elif message.get("media"):
                future.set_exception(MediaError(str(message["error"])))
            else:
                future.set_exception(RuntimeError(f"media worker {self.index}: {message['error']}"))
            return
        kind = message.get("ev")
        if kind == "state":
            peer = self.peers.get(message["peer"])
            if peer is not None:
                peer.remote_state(str(message["state"]), message.get("stats"))
        elif kind == "stats":
            for key, stats in message["peers"].items():
                peer = self.peers.get(int(key))
                if peer is not None:
                    peer.update_stats(stats)
        elif kind == "ready":
            self._ready.set()

    def _lose(self) -> None:
        """The process is gone (or its channel is): fail what waits on it, end its peers, tell the plane."""
        if self.lost:
            return
        self.lost, self.ready = True, False
        self._ready.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(MediaError("media: media worker exited"))
        peers, self.peers = list(self.peers.values()), {}
        for peer in peers:
            peer.worker_lost()
        self._on_lost(self, len(peers))


# ------------------------------------------------------------------------------------------ plane


class WorkerMediaPlane(MediaPlane):
    """A MediaPlane whose AvatarPeers run in ``settings.media.workers`` processes, least-loaded first.

    A worker that dies fails its sessions' peers and is restarted; ``close()`` ends every peer and worker
    within a few seconds (SIGTERM, then SIGKILL, for a worker that does not exit when asked).
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._workers: list[_Worker] = []
        self._peer_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._network: Any = None

    async def start(self) -> None:
        """Clips first (encoded here once, so workers only load them), then every worker at once."""
        if self._state != "new":
            return
        await super().start()
        if self._state != "running":
            return
        self._workers = [_Worker(i, self._worker_lost) for i in range(self._settings.media.workers)]
        results = await asyncio.gather(
            *(w.start(self._init(w.index), None) for w in self._workers), return_exceptions=True
        )
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None:
            await self.close()
            raise failure

    async def close(self) -> None:
        self._state = "closed"
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        peers = [p for w in self._workers for p in list(w.peers.values())]
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
        await asyncio.gather(*(w.stop(WORKER_EXIT_GRACE_S) for w in self._workers))
        await super().close()

    def open_peer(  # type: ignore[override]  # a RemotePeer: AvatarPeer's methods, in another process
        self, session_id: str, tier: Tier, codec: VideoCodec, on_state: Callable[[str], None]
    ) -> RemotePeer:
        if self._state != "running":
            raise MediaError("media: media plane is not running")
        if codec not in CODECS:
            raise MediaError(f"media: unsupported video codec (use {' or '.join(CODECS)})")
        ready = [w for w in self._workers if w.ready]
        if not ready:
            raise MediaError("media: no media worker is running (restarting)")
        worker = min(ready, key=lambda w: len(w.peers))
        peer = RemotePeer(next(self._peer_ids), session_id, tier, codec, on_state, worker)
        worker.open(peer)
        return peer

    def peer_count(self) -> int:
        return sum(len(w.peers) for w in self._workers)

    def set_network(self, conditions: NetworkConditions | None) -> None:
        """Global conditions: here (``network``, v2 rooms' peers) and in every worker, now and after restarts."""
        super().set_network(conditions)
        self._network = encode_value(conditions)
        for worker in self._workers:
            worker.send({"op": "plane", "method": "set_network", "args": [self._network]})

    @property
    def worker_pids(self) -> list[int]:
        """Pids of the workers taking sessions now (tests, benchmarks, operators)."""
        return [w.pid for w in self._workers if w.ready and w.pid is not None]

    def _init(self, index: int) -> dict[str, Any]:
        # Secrets stay here; the worker's own STUN responder must not take the parent's fixed port.
        settings = self._settings.model_dump(mode="json", exclude={"api_keys", "concurrency_limits"})
        settings["media"]["stun_port"] = 0
        return {"settings": settings, "index": index, "log_level": logging.getLogger().getEffectiveLevel()}

    def _worker_lost(self, worker: _Worker, sessions: int) -> None:
        if worker.stopping or self._state == "closed":
            return
        task = asyncio.get_running_loop().create_task(self._replace(worker, sessions))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replace(self, worker: _Worker, sessions: int) -> None:
        code = await worker.stop(WORKER_EXIT_GRACE_S)  # reaps it (or ends a worker whose channel broke)
        quick = worker.quick_crashes + 1 if time.monotonic() - worker.started_at < STABLE_UPTIME_S else 0
        logger.warning(
            "media worker %d (pid %s) exited with code %s; its %d session(s) end as media_failed; restarting",
            worker.index,
            worker.pid,
            code,
            sessions,
        )
        while self._state == "running":
            await asyncio.sleep(min(MAX_RESTART_DELAY_S, 0.5 * 2**quick) if quick else 0)
            replacement = _Worker(worker.index, self._worker_lost, quick)
            self._workers[worker.index] = replacement
            try:
                await replacement.start(self._init(worker.index), self._network)
            except Exception as exc:
                logger.error("media worker %d did not restart: %s", worker.index, exc)
                quick += 1
                continue
            logger.info("media worker %d restarted (pid %s)", worker.index, replacement.pid)
            return
