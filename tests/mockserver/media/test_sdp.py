"""SDP checks: H264 levels, codec choice, malformed descriptions and candidates."""

from __future__ import annotations

import pytest

from mockserver.media import MediaError, sdp


@pytest.mark.parametrize(
    ("width", "height", "fps", "level"),
    [
        (640, 360, 25, 31),
        (854, 480, 25, 31),
        (1280, 720, 25, 31),
        (1280, 720, 50, 32),
        (1920, 1080, 25, 40),
        (1920, 1080, 60, 42),
        (3840, 2160, 30, 51),
    ],
)
def test_h264_level_fits_the_stream(width: int, height: int, fps: int, level: int) -> None:
    assert sdp.h264_level(width, height, fps, 2000) == level


def test_h264_level_refuses_what_no_level_carries() -> None:
    with pytest.raises(ValueError, match="no H264 level"):
        sdp.h264_level(8192, 8192, 60, 2000)


def test_set_h264_level_keeps_the_profile() -> None:
    text = "a=fmtp:97 packetization-mode=1;profile-level-id=42e01f\r\na=fmtp:99 profile-level-id=42001F\r\n"
    assert sdp.set_h264_level(text, 40) == (
        "a=fmtp:97 packetization-mode=1;profile-level-id=42e028\r\na=fmtp:99 profile-level-id=420028\r\n"
    )


def test_codec_preferences_name_only_the_session_codec() -> None:
    offer = sdp.codec_preferences("video", "H264", for_offer=True)
    assert [(c.mimeType, c.parameters.get("profile-level-id")) for c in offer] == [
        ("video/H264", "42e01f"),
        ("video/rtx", None),
    ]
    answer = sdp.codec_preferences("video", "H264")
    assert [c.parameters.get("profile-level-id") for c in answer] == ["42e01f", "42001f", None]
    assert [c.mimeType for c in sdp.codec_preferences("video", "VP8")] == ["video/VP8", "video/rtx"]
    assert [c.mimeType for c in sdp.codec_preferences("audio")] == ["audio/opus"]


OFFER = """v=0\r
o=- 1 1 IN IP4 0.0.0.0\r
s=-\r
t=0 0\r
a=group:BUNDLE 0\r
m=video 9 UDP/TLS/RTP/SAVPF 96 97 98\r
c=IN IP4 0.0.0.0\r
a=recvonly\r
a=mid:0\r
a=rtcp-mux\r
a=rtpmap:96 VP8/90000\r
a=rtpmap:97 H264/90000\r
a=fmtp:97 packetization-mode=1;profile-level-id=640c1f\r
a=rtpmap:98 H264/90000\r
a=fmtp:98 packetization-mode=0;profile-level-id=42e01f\r
a=ice-ufrag:abcd\r
a=ice-pwd:abcdefghijklmnopqrstuv\r
a=fingerprint:sha-256 00:11\r
a=setup:actpass\r
"""


def test_parse_and_codec_checks() -> None:
    description = sdp.parse(OFFER, "offer")
    sdp.require_video_codec(description, "VP8")
    # High profile, or baseline in packetization mode 0, is not what the clips are.
    with pytest.raises(
        MediaError, match=r"^sdp: no H264 codec \(packetization-mode=1, baseline profile\) in the offer$"
    ):
        sdp.require_video_codec(description, "H264")
    sendonly = sdp.parse(OFFER.replace("a=recvonly", "a=sendonly"), "offer")
    with pytest.raises(MediaError, match="cannot receive video"):
        sdp.require_video_codec(sendonly, "VP8")
    audio_only = sdp.parse(OFFER.replace("m=video", "m=audio").replace("VP8/90000", "opus/48000/2"), "offer")
    with pytest.raises(MediaError, match="no video section"):
        sdp.require_video_codec(audio_only, "VP8")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "sdp: offer is not an SDP description"),
        ("hello", "sdp: offer is not an SDP description"),
        ("v=0\r\n", "sdp: offer has no media sections"),
        ("v=0\r\nm=video x y z\r\n", "sdp: malformed offer"),
        (OFFER.replace("a=ice-pwd:abcdefghijklmnopqrstuv\r\n", ""), "sdp: offer lacks ICE credentials"),
        (OFFER.replace("a=fingerprint:sha-256 00:11\r\n", ""), "sdp: offer lacks a DTLS fingerprint"),
        (OFFER.replace("a=rtcp-mux\r\n", ""), "sdp: offer does not use rtcp-mux"),
    ],
)
def test_parse_refuses_with_a_named_problem(text: object, message: str) -> None:
    with pytest.raises(MediaError) as info:
        sdp.parse(text, "offer")
    assert str(info.value) == message


def test_parse_candidate() -> None:
    parsed = sdp.parse_candidate(
        {
            "candidate": "candidate:842163049 1 udp 1677729535 192.0.2.2 54321 typ srflx raddr 10.0.0.1 rport 9",
            "sdpMid": "0",
            "sdpMLineIndex": 0,
            "usernameFragment": "abcd",
        }
    )
    assert parsed is not None and (parsed.ip, parsed.port, parsed.type, parsed.sdpMid) == (
        "192.0.2.2",
        54321,
        "srflx",
        "0",
    )
    mdns = sdp.parse_candidate({"candidate": "a=candidate:1 1 UDP 1 0b7f4a1c.local 5000 typ host", "sdpMid": None})
    assert mdns is not None and mdns.ip == "0b7f4a1c.local"
    assert sdp.parse_candidate({"candidate": "", "sdpMid": "0"}) is None
    for bad in (
        "candidate:1 1 udp 1 127.0.0.1 5000 type host",
        "candidate:1 1 sctp 1 127.0.0.1 5000 typ host",
        "candidate:1 1 udp 1 127.0.0.1 5000 typ other",
        "candidate:1 x udp 1 127.0.0.1 5000 typ host",
        "1 1 udp 1 127.0.0.1 5000 typ host",
    ):
        with pytest.raises(MediaError, match="ice: malformed candidate"):
            sdp.parse_candidate({"candidate": bad, "sdpMid": "0"})
    with pytest.raises(MediaError, match="sdpMid must be a string"):
        sdp.parse_candidate({"candidate": "", "sdpMid": 0})
    with pytest.raises(MediaError, match="sdpMLineIndex"):
        sdp.parse_candidate({"candidate": "", "sdpMLineIndex": True})
