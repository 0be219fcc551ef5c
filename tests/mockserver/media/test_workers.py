"""Media worker processes: peers spread over workers and behave as in-process ones (media, events, states,
stats, network conditions); a killed worker ends only its sessions and is replaced; shutdown ends every session
and worker in bounded time, even a hung one (the plane itself, and ``avatar-mock serve --media-workers 2`` on
SIGTERM)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from aiohttp import web

from harness import StreamingClient
from harness.errors import SessionStateError
from harness.server_thread import ServerThread
from mockserver.api.common import SERVICE
from mockserver.app import create_app
from mockserver.config import NetworkConditions, Settings
from mockserver.media import MediaError, MediaPlane, RemotePeer, WorkerMediaPlane
from mockserver.media.workers import decode_value, encode_value

from .conftest import Client, connect_seed, connect_v1, wait_for

LOW = Settings().tiers["low"]


@pytest.fixture(scope="module")
def worker_settings(media_settings: Settings) -> Settings:
    media = media_settings.media.model_copy(update={"workers": 2})
    return media_settings.model_copy(update={"media": media, "port": 0})


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children(pid: int) -> list[int]:
    """Child processes of ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


async def test_one_worker_keeps_the_in_process_plane_and_models_cross_as_json() -> None:
    app = create_app(Settings())
    assert type(app[SERVICE].media) is MediaPlane
    encoded = json.loads(json.dumps(encode_value(LOW)))
    assert decode_value(encoded) == LOW and decode_value({"a": 1}) == {"a": 1}
    with pytest.raises(ValueError, match="refusing"):
        decode_value({"$model": "os:system", "data": {}})


async def test_peers_spread_over_workers_stream_and_close(worker_settings: Settings, clients: list[Client]) -> None:
    plane = WorkerMediaPlane(worker_settings)
    await plane.start()
    pids = plane.worker_pids
    try:
        assert len(pids) == 2 and os.getpid() not in pids
        assert plane.ice_servers  # the one STUN responder, in this process
        with pytest.raises(MediaError, match="codec"):
            plane.open_peer("x", LOW, "AV1", lambda state: None)  # type: ignore[arg-type]
        states: dict[str, list[str]] = {"a": [], "b": []}
        a = plane.open_peer("a", LOW, "VP8", states["a"].append)
        b = plane.open_peer("b", LOW, "H264", states["b"].append)
        assert {a.worker_pid, b.worker_pid} == set(pids)  # least loaded first
        a.send_event({"type": "before_open"})  # held in the worker until the channel opens
        clients.extend([Client.create(plane.ice_servers), Client.create(plane.ice_servers)])
        await asyncio.gather(connect_v1(a, clients[0]), connect_seed(b, clients[1]))
        await wait_for(lambda: all(len(c.markers()) >= 10 for c in clients), 15, "video from both workers")
        await wait_for(lambda: states["a"] == ["connecting", "connected"], 5, "states forwarded")

        a.set_talking(True)
        await wait_for(lambda: any(m.talking for m in clients[0].markers()), 10, "talking video")
        assert not any(m.talking for m in clients[1].markers())
        assert json.loads(clients[0].messages[0]) == {"type": "before_open"}
        await wait_for(lambda: a.stats().get("video_frames_sent", 0) > 0, 5, "stats reported")

        lossy = NetworkConditions(loss_percent=50)
        b.set_network(lossy)  # the session's own conditions, applied in its worker
        assert b.network == lossy and a.network is None
        await wait_for(lambda: b.stats().get("network_lost", 0) > 0, 5, "session conditions applied")
        b.set_network(None)
        plane.set_network(lossy)  # global: every worker's peers
        assert plane.network == lossy
        await wait_for(lambda: a.stats().get("network_lost", 0) > 0, 5, "global conditions applied")
        plane.set_network(None)

        assert plane.peer_count() == 2
        await a.close()
        assert states["a"][-1] == "closed" and plane.peer_count() == 1
        with pytest.raises(MediaError, match="closed"):
            await a.create_offer()
        a.send_event({"type": "after_close"})  # dropped silently
        assert b.worker_pid is not None
        os.kill(b.worker_pid, signal.SIGSTOP)  # a hung worker: closing must not wait for it for ever
    finally:
        started = time.monotonic()
        await plane.close()
    assert time.monotonic() - started < 5
    assert states["b"][-1] == "closed" and plane.peer_count() == 0
    assert not any(alive(pid) for pid in pids)


async def test_killed_worker_ends_its_sessions_only_and_is_replaced(worker_settings: Settings) -> None:
    apps: list[web.Application] = []

    def factory() -> web.Application:
        apps.append(create_app(worker_settings))
        return apps[-1]

    server = ServerThread(factory)
    url = server.start()
    service = apps[0][SERVICE]
    plane = service.media
    assert isinstance(plane, WorkerMediaPlane)
    pids = plane.worker_pids
    try:
        async with (
            StreamingClient(url, api_key="k") as client,
            client.session(stats_interval=None) as doomed,
            client.session(stats_interval=None) as survivor,
        ):
            await asyncio.gather(doomed.wait_first_frame(), survivor.wait_first_frame())

            def worker_of(session_id: str) -> int | None:
                session = service.registry.find(session_id)
                assert session is not None and isinstance(session.media, RemotePeer)
                return session.media.worker_pid

            killed = worker_of(doomed.session_id)
            assert killed is not None and worker_of(survivor.session_id) != killed
            os.kill(killed, signal.SIGKILL)

            async def ended() -> bool:
                try:
                    await client.keep_alive(doomed.session_id)
                except SessionStateError as exc:
                    assert exc.code == 10005
                    return True
                return False

            deadline = time.monotonic() + 10
            while not await ended():
                assert time.monotonic() < deadline, "the killed worker's session did not end"
                await asyncio.sleep(0.1)
            record = service.registry.find(doomed.session_id)
            assert record is not None and record.close_reason == "media_failed"

            await client.keep_alive(survivor.session_id)  # the other worker's session lives on
            frames = survivor.media_stats().frames
            await wait_for(lambda: survivor.media_stats().frames > frames + 10, 5, "survivor still streams")
            assert (await client.list_sessions()).sessions is not None  # the control plane answers

            async with client.session(stats_interval=None) as fresh:  # new sessions keep working
                await fresh.wait_first_frame()
            await wait_for(lambda: len(plane.worker_pids) == 2, 30, "worker restarted")
            assert killed not in plane.worker_pids and not alive(killed)
            assert service.stats()["peer_connections"] == 1
    finally:
        pids = plane.worker_pids
        server.stop()
    assert not any(alive(pid) for pid in pids)


async def test_serve_with_workers_exits_promptly_on_sigterm_with_live_sessions(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with log.open("w") as stderr:
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "mockserver", "serve", "--port", "0", "--media-workers", "2"),
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
        assert line.startswith("listening on http://"), log.read_text()[-2000:]
        workers = children(proc.pid)
        assert len(workers) == 2
        async with StreamingClient(line.removeprefix("listening on "), api_key="k") as client:
            sessions = [client.session(stats_interval=None), client.session(stats_interval=None)]
            async with contextlib.AsyncExitStack() as stack:
                for session in sessions:
                    await stack.enter_async_context(session)
                await asyncio.gather(*(s.wait_first_frame() for s in sessions))

                proc.send_signal(signal.SIGTERM)
                started = time.monotonic()
                code = await asyncio.wait_for(proc.wait(), 10)
                took = time.monotonic() - started
                assert code == 0 and took < 5, f"exit {code} after {took:.1f} s: {log.read_text()[-2000:]}"
                await wait_for(lambda: not any(alive(pid) for pid in workers), 2, "workers gone")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
