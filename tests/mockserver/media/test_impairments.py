"""Network impairments: each one's effect measured where a client sees it (loss, delay, cap, outage), and the
shaper's own statistics (Gilbert bursts, bottleneck pacing) checked on many datagrams without a network.

Receiver-side checks read RTP headers off the client's ICE socket (SRTP leaves headers in the clear) and, unless
a test needs aiortc's receivers (NACKs), keep RTP away from them so nothing is decoded: cheap on a busy machine.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import statistics
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from mockserver.config import NETWORK_PROFILES, NetworkConditions, Settings
from mockserver.media import AvatarPeer, MediaPlane
from mockserver.media.impairments import UDP_IP_OVERHEAD, NetworkShaper

from .conftest import running_plane, wait_for

LOW = Settings().tiers["low"]


# ------------------------------------------------------------------------------------ the shaper alone


class FakeTransport:
    """Records what the shaper sends, and when (loop time)."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, bytes]] = []
        self._loop = asyncio.get_running_loop()

    def sendto(self, data: bytes, addr: Any) -> None:
        self.sent.append((self._loop.time(), data))

    def is_closing(self) -> bool:
        return False


def _bursts(delivered: set[int], count: int) -> list[int]:
    runs, run = [], 0
    for i in range(count):
        if i in delivered:
            if run:
                runs.append(run)
            run = 0
        else:
            run += 1
    return runs


@pytest.mark.parametrize(("loss", "burst"), [(10.0, 1.0), (20.0, 4.0)])
async def test_random_and_bursty_loss_rates(loss: float, burst: float) -> None:
    shaper = NetworkShaper(random.Random(7))
    shaper.set_own(NetworkConditions(loss_percent=loss, burst_length=burst))
    udp = FakeTransport()
    count = 20_000
    for i in range(count):
        shaper.send(udp, i.to_bytes(4, "big"), ("127.0.0.1", 9))  # type: ignore[arg-type]
    delivered = {int.from_bytes(data, "big") for _, data in udp.sent}
    measured = 100 * (count - len(delivered)) / count
    runs = _bursts(delivered, count)
    assert measured == pytest.approx(loss, abs=1.0)
    # Independent loss at rate p gives runs of mean 1/(1-p); the Gilbert model gives runs of mean burst_length.
    expected_run = 1 / (1 - loss / 100) if burst == 1 else burst
    assert statistics.mean(runs) == pytest.approx(expected_run, rel=0.15)
    assert shaper.stats()["network_lost"] == count - len(delivered)


async def test_jitter_wanders_with_the_set_deviation() -> None:
    shaper = NetworkShaper(random.Random(3))
    draws = [shaper._wander(i * 0.02, 50) for i in range(20_000)]  # one datagram every 20 ms
    steps = [abs(b - a) for a, b in itertools.pairwise(draws)]
    assert statistics.mean(draws) == pytest.approx(0, abs=5)
    assert statistics.stdev(draws) == pytest.approx(50, rel=0.1)
    assert statistics.mean(steps) < 25  # neighbours see similar delays: order is rarely at stake
    assert shaper._wander(400.0, 50) == shaper._wander(400.0, 50)  # a burst (same instant) shares one value


async def test_bottleneck_paces_then_drops_what_the_queue_cannot_hold() -> None:
    shaper = NetworkShaper()
    # 800 kbps = 100 kB/s: a 1000-byte datagram (with its IP/UDP headers) leaves every 10 ms.
    shaper.set_own(NetworkConditions(bandwidth_kbps=800, queue_ms=200))
    udp = FakeTransport()
    t0 = asyncio.get_running_loop().time()
    for _ in range(100):  # a 100 kB burst, at once
        shaper.send(udp, bytes(1000 - UDP_IP_OVERHEAD), ("127.0.0.1", 9))  # type: ignore[arg-type]
    assert shaper.stats()["network_queue_drops"] == 100 - 21  # 200 ms of queue: 20 waiting + the one leaving
    await wait_for(lambda: len(udp.sent) == 21, 2, "queue drained")
    times = [at - t0 for at, _ in udp.sent]
    assert times[0] == pytest.approx(0.010, abs=0.008)
    assert times[-1] == pytest.approx(0.210, abs=0.05)  # the link's rate, not the sender's
    shaper.close()


async def test_conditions_cleared_mid_flight_keep_order() -> None:
    shaper = NetworkShaper()
    shaper.set_own(NetworkConditions(delay_ms=100))
    udp = FakeTransport()
    shaper.send(udp, b"first", ("127.0.0.1", 9))  # type: ignore[arg-type]
    shaper.set_own(None)
    shaper.send(udp, b"second", ("127.0.0.1", 9))  # type: ignore[arg-type]
    await wait_for(lambda: len(udp.sent) == 2, 2, "both sent")
    assert [data for _, data in udp.sent] == [b"first", b"second"]
    assert shaper.idle


def test_conditions_validate_their_ranges() -> None:
    with pytest.raises(ValueError, match="loss_percent"):
        NetworkConditions(loss_percent=120)
    with pytest.raises(ValueError, match="bandwidth_kbps"):
        NetworkConditions(bandwidth_kbps=0)
    with pytest.raises(ValueError, match="burst_length too short"):
        NetworkConditions(loss_percent=90, burst_length=2)
    with pytest.raises(ValueError, match="extra"):
        NetworkConditions.model_validate({"los_percent": 5})
    assert not NETWORK_PROFILES["none"].impairs and NETWORK_PROFILES["regular-3g"].impairs
    assert NETWORK_PROFILES["regular-3g"].bandwidth_kbps == 750


# ----------------------------------------------------------------------------- measured at a receiver


@dataclass
class Wire:
    """A client peer that records the RTP headers arriving on its socket: (loop time, pt, seq, ts, marker, size)."""

    pc: RTCPeerConnection
    forward_rtp: bool = False
    packets: list[tuple[float, int, int, int, int, int]] = field(default_factory=list)
    messages: list[tuple[float, str]] = field(default_factory=list)
    video_pt: int = 0
    audio_pt: int = 0
    rtx_pt: int = -1

    async def connect(self, peer: AvatarPeer) -> None:
        offer = await peer.create_offer()
        self.video_pt = int(re.search(r"m=video \d+ \S+ (\d+)", offer).group(1))  # type: ignore[union-attr]
        self.audio_pt = int(re.search(r"m=audio \d+ \S+ (\d+)", offer).group(1))  # type: ignore[union-attr]
        rtx = re.search(r"a=rtpmap:(\d+) rtx/90000", offer)
        self.rtx_pt = int(rtx.group(1)) if rtx else -1
        loop = asyncio.get_running_loop()
        self.pc.on(
            "datachannel",
            lambda channel: channel.on("message", lambda m: self.messages.append((loop.time(), m))),
        )
        await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        connection = self.pc.getTransceivers()[0].receiver.transport.transport._connection
        original = connection.data_received

        def tap(data: bytes, component: int) -> None:
            if 127 < data[0] < 192 and not 192 <= data[1] <= 223:  # RTP, not RTCP
                seq, ts = int.from_bytes(data[2:4], "big"), int.from_bytes(data[4:8], "big")
                self.packets.append((loop.time(), data[1] & 0x7F, seq, ts, data[1] >> 7, len(data)))
                if not self.forward_rtp:
                    return
            original(data, component)

        connection.data_received = tap  # type: ignore[method-assign]
        await peer.accept_answer(self.pc.localDescription.sdp)
        await wait_for(lambda: self.pc.connectionState == "connected", 10, "client connected")

    def since(self, t: float, pt: int | None = None) -> list[tuple[float, int, int, int, int, int]]:
        return [p for p in self.packets if p[0] >= t and (pt is None or p[1] == pt)]


def loss_percent(packets: list[tuple[float, int, int, int, int, int]]) -> float:
    seqs = [p[2] for p in packets]
    expected = ((seqs[-1] - seqs[0]) & 0xFFFF) + 1
    return 100 * (expected - len(set(seqs))) / expected


def transit_ms(packets: list[tuple[float, int, int, int, int, int]], origin: tuple[float, int]) -> list[float]:
    """Arrival minus send schedule (from RTP timestamps), relative to ``origin``: the path's one-way delay + c."""
    t0, ts0 = origin
    return [((at - t0) - ((ts - ts0) & 0xFFFFFFFF) / 48000) * 1000 for at, _, _, ts, _, _ in packets]


async def window(seconds: float) -> float:
    """Sleep through a measuring window; returns when it began (loop time)."""
    start = asyncio.get_running_loop().time()
    await asyncio.sleep(seconds)
    return start


@pytest.fixture
async def wires() -> AsyncIterator[list[Wire]]:
    made: list[Wire] = []
    yield made
    for wire in made:
        await wire.pc.close()


async def connected(plane: MediaPlane, wires: list[Wire], forward_rtp: bool = False) -> tuple[AvatarPeer, Wire]:
    peer = plane.open_peer(f"net{len(wires)}", LOW, "VP8", lambda state: None)
    wire = Wire(RTCPeerConnection(RTCConfiguration(iceServers=[])), forward_rtp)
    wires.append(wire)
    await wire.connect(peer)
    return peer, wire


async def test_loss_at_the_receiver_matches_the_setting(plane: MediaPlane, wires: list[Wire]) -> None:
    peer, wire = await connected(plane, wires)
    peer._shaper._rng = random.Random(15)
    peer.set_network(NetworkConditions(loss_percent=15))
    start = await window(3.0)
    video, audio = wire.since(start, wire.video_pt), wire.since(start, wire.audio_pt)
    measured = loss_percent(video) * len(video) / (len(video) + len(audio)) + loss_percent(audio) * len(audio) / (
        len(video) + len(audio)
    )
    print(f"loss set 15%: received loss {measured:.1f}% over {len(video) + len(audio)} packets")
    assert measured == pytest.approx(15, abs=6)
    assert peer.stats()["network_lost"] > 0


async def test_delay_and_jitter_added_to_media_and_events(plane: MediaPlane, wires: list[Wire]) -> None:
    peer, wire = await connected(plane, wires)
    start = await window(1.0)
    first = wire.since(start, wire.audio_pt)[0]
    origin = (first[0], first[3])
    base = statistics.median(transit_ms(wire.since(start, wire.audio_pt), origin))

    peer.set_network(NetworkConditions(delay_ms=150))
    await asyncio.sleep(0.3)  # what was already in flight
    sent_at = asyncio.get_running_loop().time()
    peer.send_event({"type": "probe"})
    start = await window(1.0)
    delayed = transit_ms(wire.since(start, wire.audio_pt), origin)
    added = statistics.median(delayed) - base
    spread = statistics.quantiles(delayed, n=10)
    print(f"delay set 150 ms: added {added:.1f} ms (p10..p90 {spread[0] - base:.0f}..{spread[-1] - base:.0f})")
    assert added == pytest.approx(150, abs=25)
    await wait_for(lambda: bool(wire.messages), 2, "event")
    event_ms = (wire.messages[0][0] - sent_at) * 1000
    print(f"data channel event under 150 ms delay: {event_ms:.0f} ms")
    assert 140 <= event_ms < 400

    peer.set_network(NetworkConditions(delay_ms=150, jitter_ms=50))
    await asyncio.sleep(0.3)
    start = await window(2.0)
    jittered = transit_ms(wire.since(start, wire.audio_pt), origin)
    deciles = statistics.quantiles(jittered, n=10)
    print(
        f"delay 150 ms, jitter sd 50 ms: added mean {statistics.mean(jittered) - base:.0f} ms, sd "
        f"{statistics.stdev(jittered):.0f} ms, p10 {deciles[0] - base:.0f}, p90 {deciles[-1] - base:.0f} ms"
    )
    # Jitter is correlated over ~0.1 s, so a 2 s window holds only ~20 independent draws: wide bounds here, the
    # exact deviation is checked on the shaper alone.
    assert 15 < statistics.stdev(jittered) < 80  # the delay now varies...
    assert statistics.mean(jittered) - base == pytest.approx(150, abs=50)  # ...around the set delay


async def test_bandwidth_cap_holds_the_bitrate_and_costs_frames(plane: MediaPlane, wires: list[Wire]) -> None:
    peer, wire = await connected(plane, wires)
    start = await window(1.0)
    free_fps = sum(p[4] for p in wire.since(start, wire.video_pt)) / 1.0
    peer.set_network(NetworkConditions(bandwidth_kbps=300, queue_ms=200))
    await asyncio.sleep(0.5)  # the queue fills
    seconds = 2.0
    start = await window(seconds)
    packets = wire.since(start)
    kbps = sum(p[5] + UDP_IP_OVERHEAD for p in packets) * 8 / seconds / 1000
    video = wire.since(start, wire.video_pt)
    fps = sum(p[4] for p in video) / seconds  # frames whose last packet made it
    print(
        f"cap 300 kbps on a 500 kbps tier: received {kbps:.0f} kbps on the wire, video loss "
        f"{loss_percent(video):.0f}%, frames ending {fps:.1f}/s (uncapped {free_fps:.0f}/s)"
    )
    assert 300 * 0.8 < kbps <= 300 * 1.05
    assert loss_percent(video) > 15 and fps < free_fps * 0.9
    assert peer.stats()["network_queue_drops"] > 0


async def test_short_outage_stops_media_then_it_resumes_in_place(plane: MediaPlane, wires: list[Wire]) -> None:
    states: list[str] = []
    peer = plane.open_peer("outage", LOW, "VP8", states.append)
    wire = Wire(RTCPeerConnection(RTCConfiguration(iceServers=[])))
    wires.append(wire)
    await wire.connect(peer)
    await asyncio.sleep(0.3)
    set_at = asyncio.get_running_loop().time()
    peer.set_network(NetworkConditions(outage_s=1.0))
    await asyncio.sleep(1.6)
    after = wire.since(set_at - 0.1)
    gap = max(b[0] - a[0] for a, b in itertools.pairwise(after))
    print(f"outage set 1.0 s: longest gap at the receiver {gap:.2f} s")
    assert gap == pytest.approx(1.0, abs=0.2)
    assert wire.since(set_at + 1.2), "media resumed"
    assert states == ["connecting", "connected"] and wire.pc.connectionState == "connected"
    assert peer.stats()["network_outage_drops"] > 0


async def test_long_outage_fails_the_peer(media_settings: Settings, wires: list[Wire]) -> None:
    # A client whose receivers see RTP sends RTCP every 0.5-1.5 s: 2.5 s without a word is an outage.
    async with running_plane(media_settings, peer_silence_timeout_s=2.5) as plane:
        states: list[str] = []
        peer = plane.open_peer("dead", LOW, "VP8", states.append)
        wire = Wire(RTCPeerConnection(RTCConfiguration(iceServers=[])), forward_rtp=True)
        wires.append(wire)
        await wire.connect(peer)
        await asyncio.sleep(3.0)
        assert states == ["connecting", "connected"]  # healthy: the silence check alone does not fail it
        t0 = asyncio.get_running_loop().time()
        plane.set_network(NetworkConditions(outage_s=10))  # global: applies to the open peer
        await wait_for(lambda: states[-1:] == ["closed"], 6, "peer failed")
        failed_after = asyncio.get_running_loop().time() - t0
        print(f"outage longer than the 2.5 s silence timeout: peer failed after {failed_after:.2f} s")
        assert states == ["connecting", "connected", "failed", "closed"]
        assert 1.0 <= failed_after < 4.5  # 2.5 s after the client was last heard, up to 1.5 s before the outage
        assert peer.stats()["network_inbound_drops"] > 0


async def test_nacks_are_answered_under_loss(plane: MediaPlane, wires: list[Wire]) -> None:
    """A client that NACKs (aiortc's receivers) gets most lost video packets back as RTX."""
    peer, wire = await connected(plane, wires, forward_rtp=True)
    peer._shaper._rng = random.Random(10)
    peer.set_network(NetworkConditions(loss_percent=10))
    start = await window(2.0)
    video = wire.since(start, wire.video_pt)
    seqs = {p[2] for p in video}
    lost = ((video[-1][2] - video[0][2]) & 0xFFFF) + 1 - len(seqs)
    rtx = len(wire.since(start, wire.rtx_pt))
    print(f"loss 10%: {lost} video packets lost, {rtx} RTX retransmissions received")
    assert lost > 0 and rtx >= lost * 0.5


async def test_own_conditions_win_over_the_global_ones(plane: MediaPlane) -> None:
    lossy, slow = NetworkConditions(loss_percent=10), NetworkConditions(delay_ms=100)
    first = plane.open_peer("g1", LOW, "VP8", lambda state: None)
    plane.set_network(lossy)
    second = plane.open_peer("g2", LOW, "VP8", lambda state: None)
    assert first._shaper.conditions == lossy and second._shaper.conditions == lossy
    second.set_network(slow)
    plane.set_network(None)
    assert first._shaper.conditions is None and second._shaper.conditions == slow
    assert (first.network, second.network, plane.network) == (None, slow, None)
    second.set_network(NETWORK_PROFILES["none"])  # explicitly unimpaired, whatever the global conditions say
    plane.set_network(lossy)
    assert second._shaper.conditions is None and first._shaper.conditions == lossy
    await asyncio.gather(first.close(), second.close())
