"""pipecat's HeyGen client (``pipecat-ai[heygen]``), unmodified, against the mock: REST, realtime endpoint, room.

pipecat creates and starts the session (``streaming.new`` with most fields ``null``), opens the realtime
endpoint, joins the room with ``livekit_agent_token``, receives the avatar's video, drives the avatar with
24 kHz PCM (``agent.speak``/``agent.speak_end``) and stops the session. Its base URL is a class constant;
the test overrides it on the instance, as pipecat's own tests do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from mockserver.api.common import SERVICE
from mockserver.app import create_app
from mockserver.config import Settings
from mockserver.sessions import State

heygen = pytest.importorskip("pipecat.services.heygen.client", reason="pipecat-ai[heygen] is not installed")
from pipecat.clocks.system_clock import SystemClock  # noqa: E402
from pipecat.processors.frame_processor import FrameProcessorSetup  # noqa: E402
from pipecat.services.heygen.api_interactive_avatar import NewSessionRequest  # noqa: E402
from pipecat.transports.base_transport import TransportParams  # noqa: E402
from pipecat.utils.asyncio.task_manager import TaskManager  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

PCM_100MS = bytes(24000 * 2 // 10)  # 100 ms of 24 kHz 16-bit mono silence: duration is what counts


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def mock() -> AsyncIterator[tuple[web.Application, str]]:
    app = create_app(Settings())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield app, f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def _until(condition: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def test_pipecat_heygen_client_runs_a_session(mock: tuple[web.Application, str]) -> None:
    app, base = mock
    heard: list[Any] = []
    frames: list[Any] = []

    async def on_connected() -> None:
        heard.append("connected")

    async def on_participant(identity: str) -> None:
        heard.append(("participant", identity))

    async def on_frame(frame: Any) -> None:
        frames.append(frame)

    callbacks = heygen.HeyGenCallbacks(
        on_connected=on_connected, on_participant_connected=on_participant, on_participant_disconnected=on_participant
    )
    async with aiohttp.ClientSession() as http:
        client = heygen.HeyGenClient(
            api_key="pipecat-e2e-key-000000",
            session=http,
            params=TransportParams(audio_out_enabled=True, video_in_enabled=True),
            session_request=NewSessionRequest(avatar_id="Wayne_20240711"),
            callbacks=callbacks,
        )
        client._api.BASE_URL = f"{base}/v1"
        tasks = TaskManager(loop=asyncio.get_running_loop())
        no_pipeline: Any = None  # the client never touches the pipeline worker
        await client.setup(FrameProcessorSetup(clock=SystemClock(), task_manager=tasks, pipeline_worker=no_pipeline))
        try:
            await _until(lambda: len(heard) == 2)
            assert ("participant", "avatar") in heard and "connected" in heard
            assert client._livekit_room.local_participant.identity == "agent"  # joined with livekit_agent_token
            session = app[SERVICE].registry.find(client._heyGen_session.session_id)
            assert session is not None and session.state is State.CONNECTED

            await client.capture_participant_video("avatar", on_frame)
            client.transport_ready()
            await _until(lambda: frames)
            assert frames[0].size == (854, 480)

            for _ in range(5):  # 0.5 s of speech
                await client.agent_speak(PCM_100MS, "utterance-1")
            await client.agent_speak_end("utterance-1")
            await _until(lambda: any(e["type"] == "avatar_stop_talking" for e in session.events), timeout=5)
            talk = [e for e in session.events if e.get("task_id") == "utterance-1"]
            assert [e["type"] for e in talk] == ["avatar_start_talking", "avatar_stop_talking"]
            assert 400 <= talk[1]["duration_ms"] <= 700
        finally:
            await client.stop()
    assert session.state is State.CLOSED
    assert app[SERVICE].stats() == {"sessions_live": 0, "session_timers": 0, "peer_connections": 0}
    assert app[SERVICE].rooms.stats() == {
        "rooms": 0,
        "room_peer_connections": 0,
        "chat_sockets": 0,
        "realtime_sockets": 0,
    }
