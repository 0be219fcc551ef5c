"""AvatarPeer against a real aiortc client on loopback: both flows, both codecs, switches, PLI, errors, leaks."""

from __future__ import annotations

import asyncio
import itertools
import json
import re

import pytest

from mockserver.config import Settings
from mockserver.media import MediaError, MediaPlane
from mockserver.media.sdp import VideoCodec

from .conftest import Client, connect_seed, connect_v1, running_plane, wait_for

GOP = 25  # default keyframe interval (1 s) at 25 fps
LOW = Settings().tiers["low"]


def assert_counter_continuous(client: Client) -> None:
    """Each received frame shows the next clip index (a lost frame could skip one; nothing goes backwards)."""
    counters = [m.counter for m in client.markers()]
    assert len(counters) >= 10
    steps = [(b - a) % 50 for a, b in itertools.pairwise(counters)]
    assert all(step in (1, 2) for step in steps), steps
    pts = [s.pts for s in client.video]
    assert pts == sorted(pts) and len(set(pts)) == len(pts)


@pytest.mark.parametrize(("flow", "codec"), [("v1", "VP8"), ("seed", "H264")], ids=["v1-VP8", "seed-H264"])
async def test_talking_switch_changes_video_and_audio(
    plane: MediaPlane, clients: list[Client], flow: str, codec: VideoCodec
) -> None:
    states: list[str] = []
    peer = plane.open_peer("s1", LOW, codec, states.append)
    client = Client.create()
    clients.append(client)
    peer.send_event({"type": "before_open"})  # held until the channel opens
    await (connect_v1 if flow == "v1" else connect_seed)(peer, client)
    await wait_for(lambda: len(client.markers()) >= 15 and len(client.audio) >= 25, 10, "idle media")
    idle_frames, idle_audio = len(client.video), len(client.audio)

    peer.set_talking(True)
    switched_at = asyncio.get_running_loop().time()
    peer.send_event({"type": "avatar_start_talking", "task_id": "t1"})
    await wait_for(lambda: sum(m.talking for m in client.markers()) >= 10, 10, "talking frames")
    await wait_for(lambda: "connected" in states, 1, "connected reported")

    idle = client.video[5:idle_frames]
    talking = [s for s in client.video[idle_frames:] if s.marker is not None and s.marker.talking]
    assert all(s.marker is not None and not s.marker.talking for s in idle)
    # The open mouth is dark: the mouth box gets clearly darker on average while talking.
    assert min(s.mouth_luma for s in talking) < min(s.mouth_luma for s in idle) - 40
    # The video switch waits for a keyframe: at most one keyframe interval (plus delivery).
    first_talking = next(s for s in client.video if s.marker is not None and s.marker.talking)
    assert first_talking.marker is not None and first_talking.marker.counter % GOP == 0
    assert first_talking.at - switched_at < 2.0
    # Audio switches at once: speech onset is plain from the energy.
    quiet = [a.rms_dbfs for a in client.audio[5:idle_audio]]
    loud = [a.rms_dbfs for a in client.audio if a.at > switched_at + 0.2]
    assert max(quiet) < -50 and max(loud) > -30
    assert_counter_continuous(client)

    events = [json.loads(m) for m in client.messages]
    assert [e["type"] for e in events] == ["before_open", "avatar_start_talking"]
    assert states == ["connecting", "connected"]
    await peer.close()
    assert states[-1] == "closed" and plane.peer_count() == 0
    peer.send_event({"type": "after_close"})  # dropped silently


@pytest.mark.parametrize(("flow", "codec"), [("v1", "H264"), ("seed", "VP8")], ids=["v1-H264", "seed-VP8"])
async def test_other_flow_codec_pairs_stream(
    plane: MediaPlane, clients: list[Client], flow: str, codec: VideoCodec
) -> None:
    peer = plane.open_peer("s2", LOW, codec, lambda state: None)
    client = Client.create()
    clients.append(client)
    await (connect_v1 if flow == "v1" else connect_seed)(peer, client)
    await wait_for(lambda: len(client.markers()) >= 12, 10, "frames")
    assert_counter_continuous(client)
    other = "VP8" if codec == "H264" else "H264"
    server_sdp = client.pc.remoteDescription.sdp
    assert f"{codec}/90000" in server_sdp and f"{other}/90000" not in server_sdp


async def test_h264_offer_announces_a_level_that_fits_the_tier(plane: MediaPlane) -> None:
    levels = {}
    for name, tier in Settings().tiers.items():
        peer = plane.open_peer(name, tier, "H264", lambda state: None)
        offer = await peer.create_offer()
        levels[name] = set(re.findall(r"profile-level-id=([0-9a-f]{6})", offer))
        assert "VP8" not in offer and "m=video" in offer and "opus/48000" in offer
        assert "127.0.0.1" in offer  # loopback host candidate
        await peer.close()
    assert levels == {"low": {"42e01f"}, "medium": {"42e01f"}, "high": {"42e028"}}


async def test_keyframe_request_cuts_to_the_next_keyframe(plane: MediaPlane, clients: list[Client]) -> None:
    peer = plane.open_peer("s3", LOW, "VP8", lambda state: None)
    client = Client.create()
    clients.append(client)
    await connect_v1(peer, client)
    await wait_for(lambda: any(3 <= m.counter % GOP <= 10 for m in client.markers()[-1:]), 10, "mid-GOP")
    seen = len(client.video)
    receiver = client.pc.getTransceivers()[0].receiver
    ssrc = receiver.getSynchronizationSources()[0].source
    await receiver._send_rtcp_pli(ssrc)
    await wait_for(lambda: peer.stats()["keyframe_requests"] >= 1, 2, "PLI at the server")

    def jumps() -> list[tuple[int, int]]:
        """Steps that skip frames, among the frames received since the PLI went out."""
        markers = [s.marker for s in client.video[seen - 1 :] if s.marker is not None]
        return [(a.counter, b.counter) for a, b in itertools.pairwise(markers) if (b.counter - a.counter) % 50 > 1]

    # Frames already in flight arrive first; then the stream cuts forward to a keyframe (every 25th frame)
    # well before the one it would have reached on its own.
    await wait_for(lambda: any(to % GOP == 0 for _, to in jumps()), 3, "a cut to a keyframe")
    assert any(to % GOP == 0 and (to - frm) % 50 >= 2 for frm, to in jumps()), jumps()


async def test_seed_flow_without_data_channel_drops_events(plane: MediaPlane, clients: list[Client]) -> None:
    peer = plane.open_peer("s4", LOW, "VP8", lambda state: None)
    client = Client.create()
    clients.append(client)
    await connect_seed(peer, client, data_channel=False)
    peer.send_event({"type": "avatar_start_talking"})  # nothing can carry it; no error
    await wait_for(lambda: len(client.markers()) >= 3, 10, "frames")
    assert client.messages == []


async def test_client_using_the_mock_stun_server_connects(plane: MediaPlane, clients: list[Client]) -> None:
    stun = plane._stun
    peer = plane.open_peer("s5", LOW, "VP8", lambda state: None)
    client = Client.create(plane.ice_servers)
    clients.append(client)
    await connect_v1(peer, client)
    assert stun.requests >= 1
    assert "typ srflx" in client.pc.localDescription.sdp


async def test_trickled_candidates_before_and_after_the_answer(plane: MediaPlane, clients: list[Client]) -> None:
    peer = plane.open_peer("s6", LOW, "VP8", lambda state: None)
    client = Client.create()
    clients.append(client)
    answer = await client.answer(await peer.create_offer())
    # Trickle the client's candidates (sent before the answer, they wait), then end them; none in the SDP.
    lines = [line for line in answer.splitlines() if line.startswith("a=candidate:")]
    ufrag = re.search(r"a=ice-ufrag:(\S+)", answer)
    assert lines and ufrag
    for line in lines:
        await peer.add_ice_candidate(
            {"candidate": line[2:], "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": ufrag.group(1)}
        )
    bare = "\r\n".join(line for line in answer.splitlines() if "candidate" not in line) + "\r\n"
    await peer.accept_answer(bare)
    await peer.add_ice_candidate({"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0})
    await wait_for(lambda: client.pc.connectionState == "connected", 10, "connected")


@pytest.mark.parametrize(
    ("candidate", "message"),
    [
        ({"candidate": "candidate:garbage", "sdpMid": "0"}, "ice: malformed candidate"),
        ({"candidate": "candidate:1 1 udp 2130706431 not-an-ip 5000 typ host", "sdpMid": "0"}, "ice: malformed"),
        ({"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 99999 typ host", "sdpMid": "0"}, "ice: malformed"),
        ({"candidate": 42, "sdpMid": "0"}, "ice: candidate.candidate must be a string"),
        ({"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMLineIndex": "0"}, "ice: sdpMLineIndex"),
        ("not a dict", "ice: candidate must be an object"),
    ],
)
async def test_bad_candidates_are_refused(plane: MediaPlane, candidate: object, message: str) -> None:
    peer = plane.open_peer("s7", LOW, "VP8", lambda state: None)
    await peer.create_offer()
    with pytest.raises(MediaError, match=message):
        await peer.add_ice_candidate(candidate)  # type: ignore[arg-type]
    await peer.close()


async def test_answer_errors(plane: MediaPlane, clients: list[Client]) -> None:
    peer = plane.open_peer("s8", LOW, "H264", lambda state: None)
    with pytest.raises(MediaError, match="sdp: no offer is waiting"):
        await peer.accept_answer("v=0\r\n")
    client = Client.create()
    clients.append(client)
    answer = await client.answer(await peer.create_offer())
    with pytest.raises(MediaError, match="sdp: answer is not an SDP description"):
        await peer.accept_answer("hello")
    with pytest.raises(MediaError, match="sdp: malformed answer"):
        await peer.accept_answer("v=0\r\nm=video x y z\r\n")
    with pytest.raises(MediaError, match="sdp: answer lacks ICE credentials"):
        await peer.accept_answer(re.sub(r"a=ice-(ufrag|pwd):\S+\r\n", "", answer))
    with pytest.raises(MediaError, match="sdp: no H264 codec"):
        await peer.accept_answer(answer.replace("H264/90000", "VP9/90000"))
    await peer.accept_answer(answer)
    with pytest.raises(MediaError, match="sdp: no offer is waiting"):
        await peer.accept_answer(answer)
    with pytest.raises(MediaError, match="already negotiated"):
        await peer.create_offer()
    await peer.close()
    with pytest.raises(MediaError, match="media: session closed"):
        await peer.accept_answer(answer)


async def test_offer_errors(plane: MediaPlane, clients: list[Client]) -> None:
    peer = plane.open_peer("s9", LOW, "H264", lambda state: None)
    vp8_only = Client.create()
    clients.append(vp8_only)
    with pytest.raises(MediaError, match=r"sdp: no H264 codec \(packetization-mode=1, baseline profile\) in the offer"):
        await peer.answer_offer(await vp8_only.offer(video_codec="VP8"))
    sender = Client.create()
    clients.append(sender)
    with pytest.raises(MediaError, match="sdp: offer cannot receive video"):
        await peer.answer_offer(await sender.offer(video_direction="sendonly"))
    good = Client.create()
    clients.append(good)
    offer = await good.offer()
    await peer.answer_offer(offer)  # a failed check leaves the session free to negotiate
    with pytest.raises(MediaError, match="already negotiated"):
        await peer.answer_offer(offer)
    await peer.close()


async def test_vanished_client_fails_then_closes(media_settings: Settings, clients: list[Client]) -> None:
    async with running_plane(media_settings, peer_silence_timeout_s=0.6) as plane:
        states: list[str] = []
        peer = plane.open_peer("s10", LOW, "VP8", states.append)
        client = Client.create()
        clients.append(client)
        await connect_v1(peer, client)
        # The client disappears without a goodbye: its sockets just go quiet.
        connection = client.pc.getTransceivers()[0].receiver.transport.transport._connection
        for protocol in connection._protocols:
            protocol.transport.close()
        await wait_for(lambda: states[-1:] == ["closed"], 5, "failure noticed")
        assert states == ["connecting", "connected", "failed", "closed"]
        assert plane.peer_count() == 0


async def test_ice_that_never_connects_fails(media_settings: Settings) -> None:
    async with running_plane(media_settings, ice_connect_timeout_s=0.5) as plane:
        states: list[str] = []
        peer = plane.open_peer("s11", LOW, "VP8", states.append)
        client = Client.create()
        answer = await client.answer(await peer.create_offer())
        await client.close()  # gone before any connectivity check
        bare = "\r\n".join(line for line in answer.splitlines() if "candidate" not in line) + "\r\n"
        await peer.accept_answer(bare)
        await wait_for(lambda: states[-1:] == ["closed"], 5, "timeout noticed")
        assert "failed" in states and plane.peer_count() == 0


async def test_plane_lifecycle(media_settings: Settings) -> None:
    plane = MediaPlane(media_settings)
    assert plane.ice_servers == []
    with pytest.raises(MediaError, match="not running"):
        plane.open_peer("x", LOW, "VP8", lambda state: None)
    await plane.start()
    await plane.start()
    [server] = plane.ice_servers
    assert re.fullmatch(r"stun:127\.0\.0\.1:\d+", server["urls"][0])
    with pytest.raises(MediaError, match="unsupported video codec"):
        plane.open_peer("x", LOW, "AV1", lambda state: None)  # type: ignore[arg-type]
    peers = [plane.open_peer(f"p{i}", LOW, "VP8", lambda state: None) for i in range(3)]
    await asyncio.gather(*(p.create_offer() for p in peers))
    assert plane.peer_count() == 3
    await peers[0].close()
    await peers[0].close()
    assert plane.peer_count() == 2
    await plane.close()
    await plane.close()
    assert plane.peer_count() == 0 and plane.ice_servers == []
    with pytest.raises(MediaError, match="not running"):
        plane.open_peer("x", LOW, "VP8", lambda state: None)
