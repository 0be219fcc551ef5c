"""The high-level session against the in-process mock with media: flows, codecs, receive modes, measurements,
keep-alive, reconnect, and that it always stops its session and leaves nothing running."""

from __future__ import annotations

import asyncio
import time

import pytest

from harness import MemorySink, StreamingClient, errors
from harness.media import ReceiveMode
from harness.pytest_plugin import HeygenTarget
from harness.server_thread import ServerThread

SENTENCE = "Hello there, this is a short test of the streaming avatar speaking now."


def wait_until(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


async def assert_nothing_left(heygen_mock: HeygenTarget) -> None:
    """The mock's leak counters are back to zero and no task of ours (or aiortc's) outlives the session.

    aiortc finishes some of its own tasks (ICE consent, connect) just after ``close()`` returns: allow a moment.
    """
    wait_until(lambda: heygen_mock.admin.stats() == {"sessions_live": 0, "session_timers": 0, "peer_connections": 0})
    deadline = time.monotonic() + 3
    while leftover := [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
        assert time.monotonic() < deadline, leftover
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(("flow", "codec", "receive"), [("v1", "VP8", "count"), ("v1", "H264", "decode")])
async def test_a_session_measures_setup_speech_and_media(
    heygen_mock: HeygenTarget, flow: str, codec: str, receive: str
) -> None:
    sink = MemorySink()
    client = heygen_mock.client(sink=sink, labels={"scenario": "test"})
    async with client, client.session(quality="low", video_encoding=codec, flow=flow, receive=receive) as s:
        assert s.tier == "low" and s.codec == codec
        assert await s.wait_connected(10) > 0
        assert await s.wait_first_frame(10) > 0
        result = await s.speak(SENTENCE)
        assert result.event_latency_ms is not None and 0 <= result.event_latency_ms < 1000
        assert result.onset_latency_ms is not None and 0 < result.onset_latency_ms < 1500
        assert result.received_duration_ms == pytest.approx(result.duration_ms, abs=300)
        stats = s.media_stats()
        assert stats.frames > 10 and stats.bytes > 0 and stats.packets_lost == 0
        assert 15 < stats.fps < 35 and 250 < stats.bitrate_kbps < 1000
        assert s.events[0]["type"] == "avatar_start_talking"
        if receive == "decode":
            assert s.receiver is not None and s.receiver.counter.last is not None
            assert s.receiver.counter.jumps == 0
        sid = s.session_id
    assert heygen_mock.admin.session(sid)["close_reason"] == "stopped"
    metrics = set(sink.metrics())
    for metric in (
        "session.create",
        "session.start",
        "session.ice_connected",
        "session.first_frame",
        "session.first_audio",
        "speech.event",
        "speech.onset",
        "speech.duration_error",
        "session.stop",
        "media.bitrate",
        "media.fps",
        "media.freezes",
        "media.packet_loss",
        "media.jitter",
    ):
        assert metric in metrics, metric
        assert all(x.ok for x in sink.of(metric)), metric
    onset = sink.of("speech.onset")[0]
    assert onset.labels == {"scenario": "test", "session": sid, "tier": "low", "codec": codec}
    (bitrate,) = sink.of("media.bitrate")
    assert bitrate.labels["target"] == 500 and bitrate.unit == "kbps"
    await assert_nothing_left(heygen_mock)


async def test_seed_flow_offers_and_gets_events(heygen_mock: HeygenTarget) -> None:
    async with heygen_mock.client() as client, client.session(flow="seed", video_encoding="VP8") as s:
        await s.wait_first_frame(10)
        result = await s.speak("Seed flow speaking.", task_mode="sync")
        assert result.event_latency_ms is not None and result.onset_latency_ms is not None
        assert heygen_mock.admin.session(s.session_id)["status"] == "connected"
    await assert_nothing_left(heygen_mock)


async def test_v2_flow_joins_the_room_and_measures_speech_events(heygen_mock: HeygenTarget) -> None:
    sink = MemorySink()
    async with heygen_mock.client(sink=sink) as client, client.session(flow="v2") as s:
        assert s.room is not None
        assert 0 < await s.wait_connected() <= await s.wait_first_frame()
        result = await s.speak("Room speaking.")
        assert result.event_latency_ms is not None and result.onset_latency_ms is None
        assert heygen_mock.admin.session(s.session_id)["status"] == "connected"
        assert heygen_mock.admin.session(s.session_id)["version"] == "v2"
    assert {"session.first_frame", "session.ice_connected", "speech.event", "session.stop"} <= {
        sample.metric for sample in sink.samples
    }
    wait_until(lambda: heygen_mock.admin.stats()["sessions_live"] == 0)


@pytest.mark.parametrize("receive", ["count", "wire"])
async def test_medium_tier_is_received_at_its_bitrate(heygen_mock: HeygenTarget, receive: ReceiveMode) -> None:
    async with heygen_mock.client() as client, client.session(quality="medium", receive=receive) as s:
        await s.wait_first_frame(10)
        await s.speak("Hi.")  # the events channel works in every mode
        await asyncio.sleep(2)
        stats = s.media_stats()
        assert 700 < stats.bitrate_kbps < 1400 and 20 < stats.fps < 30
        assert stats.packets_lost == 0 and stats.audio_packets > 50
        assert s.receiver is not None and s.receiver.first_audio_at is not None
        assert any(e["type"] == "avatar_start_talking" for e in s.events)


async def test_interrupt_measures_the_return_to_silence(heygen_mock: HeygenTarget) -> None:
    sink = MemorySink()
    long_text = " ".join(["This sentence keeps the avatar talking for a while."] * 4)
    async with heygen_mock.client(sink=sink) as client, client.session() as s:
        await s.wait_first_frame(10)
        talking = asyncio.create_task(s.speak(long_text))
        assert s.receiver is not None
        deadline = time.monotonic() + 5
        while not s.receiver.talking:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        latency = await s.interrupt()
        assert latency is not None and 0 <= latency < 1500
        result = await talking
        assert result.interrupted and result.received_duration_ms is not None
        assert result.received_duration_ms < result.duration_ms / 2
        assert await s.interrupt() is None  # nothing to interrupt now
    assert [x.value for x in sink.of("interrupt.latency")] == [pytest.approx(latency, abs=0.01)]
    assert not sink.of("speech.duration_error")  # an interrupted task has no meaningful duration error


async def test_keep_alive_loop_runs_until_exit(heygen_mock: HeygenTarget) -> None:
    sink = MemorySink()
    async with heygen_mock.client(sink=sink) as client, client.session(flow="none", keep_alive_interval=0.1):
        deadline = time.monotonic() + 10
        while len(sink.of("rest.streaming.keep_alive")) < 3:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    count = len(sink.of("rest.streaming.keep_alive"))
    assert all(x.ok for x in sink.of("rest.streaming.keep_alive"))
    await asyncio.sleep(0.2)
    assert len(sink.of("rest.streaming.keep_alive")) == count
    await assert_nothing_left(heygen_mock)


async def test_reconnects_with_a_new_session_after_a_kill(heygen_mock: HeygenTarget) -> None:
    sink = MemorySink()
    async with heygen_mock.client(sink=sink) as client, client.session(reconnect=True) as s:
        await s.wait_first_frame(10)
        first = s.session_id
        heygen_mock.admin.kill(first)
        deadline = time.monotonic() + 10
        while s.reconnects == 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert s.session_id != first and s.dropped is None
        await s.wait_first_frame(10)
        result = await s.speak("Back again.")
        assert result.onset_latency_ms is not None
    (reconnect,) = sink.of("session.reconnect")
    assert reconnect.ok and reconnect.value is not None and reconnect.labels["session"] == s.session_id
    await assert_nothing_left(heygen_mock)


async def test_a_killed_session_without_reconnect_is_reported_and_exit_is_clean(heygen_mock: HeygenTarget) -> None:
    async with heygen_mock.client() as client, client.session(keep_alive_interval=0.1) as s:
        await s.wait_connected(10)
        heygen_mock.admin.kill(s.session_id)
        await asyncio.sleep(0.5)
        assert s.dropped in ("closed", "failed")
        with pytest.raises(errors.SessionStateError):
            await s.speak("nobody hears this")
    await assert_nothing_left(heygen_mock)


async def test_cancellation_still_stops_the_session(heygen_mock: HeygenTarget) -> None:
    opened: list[str] = []

    async def user() -> None:
        async with heygen_mock.client() as client, client.session() as s:
            opened.append(s.session_id)
            await asyncio.sleep(30)

    task = asyncio.create_task(user())
    deadline = time.monotonic() + 10
    while not opened:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert heygen_mock.admin.session(opened[0])["close_reason"] == "stopped"
    await assert_nothing_left(heygen_mock)


async def test_failures_while_opening_leave_nothing_open(heygen_mock: HeygenTarget) -> None:
    sink = MemorySink()
    async with heygen_mock.client(sink=sink) as client:
        heygen_mock.admin.fail("streaming.new", 10007)
        with pytest.raises(errors.ConcurrentLimitReached):
            async with client.session():
                pass
        heygen_mock.admin.clear_faults()
        heygen_mock.admin.fail("streaming.start", 500)
        with pytest.raises(errors.ServerError):
            async with client.session():
                pass
        assert client.open_sessions == frozenset()
    assert [x.error for x in sink.of("session.create")] == ["10007", None]
    assert [x.error for x in sink.of("session.start")] == ["500"]
    assert heygen_mock.admin.sessions()[-1]["close_reason"] == "stopped"
    await assert_nothing_left(heygen_mock)


async def test_flow_none_is_rest_only(heygen_mock: HeygenTarget, streaming_client: StreamingClient) -> None:
    async with streaming_client.session(flow="none") as s:
        result = await s.speak("No media here.", task_mode="sync")
        assert result.task_id and result.duration_ms > 0
        assert (result.event_latency_ms, result.onset_latency_ms, result.received_duration_ms) == (None, None, None)
        assert s.media_stats().frames == 0
        with pytest.raises(errors.MediaError):
            await s.wait_connected(1)


async def test_a_mock_without_media_gives_a_clear_error() -> None:
    from mockserver.app import create_app
    from mockserver.config import Settings

    with ServerThread(lambda: create_app(Settings(port=0), media=False)) as server:
        async with StreamingClient(server.url, "key-without-media") as client:
            with pytest.raises(errors.MediaError, match="no SDP offer"):
                async with client.session():
                    pass
            assert client.open_sessions == frozenset()


def test_invalid_options_are_refused() -> None:
    client = StreamingClient("http://127.0.0.1:9", "k")
    with pytest.raises(ValueError, match="flow"):
        client.session(flow="v3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="receive"):
        client.session(receive="all")  # type: ignore[arg-type]
