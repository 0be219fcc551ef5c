"""SDP checks and rewrites: which codec the client can take, and an H264 level that fits the tier.

aiortc negotiates codecs silently (it would switch or fail with a generic error), so the client's
description is checked here first and every refusal names the problem.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from aiortc import RTCIceCandidate, RTCRtpSender
from aiortc import sdp as aiosdp
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters

from mockserver.media.errors import MediaError

VideoCodec = Literal["VP8", "H264"]

# (level_idc, max frame size in macroblocks, max macroblocks/s, max baseline bitrate kbit/s), ITU-T H.264 table A-1.
_H264_LEVELS = (
    (31, 3600, 108000, 14000),
    (32, 5120, 216000, 20000),
    (40, 8192, 245760, 20000),
    (42, 8704, 522240, 50000),
    (50, 22080, 589824, 135000),
    (51, 36864, 983040, 240000),
)
_PROFILE_LEVEL_ID = re.compile(r"(profile-level-id=)(42[0-9a-f]{2})[0-9a-f]{2}", re.IGNORECASE)
_CANDIDATE_TYPES = {"host", "srflx", "prflx", "relay"}


def h264_level(width: int, height: int, fps: int, bitrate_kbps: int) -> int:
    """The lowest level (3.1 or above, WebRTC's usual floor) whose limits fit this stream."""
    mbs = ((width + 15) // 16) * ((height + 15) // 16)
    for level, max_fs, max_mbps, max_kbps in _H264_LEVELS:
        if mbs <= max_fs and mbs * fps <= max_mbps and bitrate_kbps <= max_kbps:
            return level
    raise ValueError(f"no H264 level fits {width}x{height}@{fps}")


def set_h264_level(sdp_text: str, level: int) -> str:
    """Rewrite every baseline ``profile-level-id`` to announce ``level`` (aiortc always says 3.1)."""
    return _PROFILE_LEVEL_ID.sub(lambda m: f"{m.group(1)}{m.group(2)}{level:02x}", sdp_text)


def codec_preferences(
    kind: str, codec: VideoCodec | None = None, *, for_offer: bool = False
) -> list[RTCRtpCodecCapability]:
    """Capabilities to negotiate: only the requested video codec (+ RTX), only Opus for audio.

    An offer names H264 once, as constrained baseline (what the clips are); an answer also accepts a
    client that only lists plain baseline, which decodes constrained baseline too.
    """
    caps = RTCRtpSender.getCapabilities(kind).codecs
    if kind == "audio":
        return [c for c in caps if c.mimeType.lower() == "audio/opus"]
    chosen = [c for c in caps if _is_codec(c, codec)]
    chosen.sort(key=lambda c: str(c.parameters.get("profile-level-id", "")).lower() != "42e01f")
    if for_offer:
        chosen = chosen[:1]
    return chosen + [c for c in caps if c.mimeType.lower() == "video/rtx"]


def _is_codec(c: RTCRtpCodecCapability | RTCRtpCodecParameters, codec: VideoCodec | None) -> bool:
    """True for VP8, or for H264 in packetization mode 1 with a (constrained) baseline profile."""
    if c.mimeType.lower() != f"video/{(codec or '').lower()}":
        return False
    if codec != "H264":
        return True
    if str(c.parameters.get("packetization-mode", "0")) != "1":
        return False
    try:
        profile, _ = aiosdp.parse_h264_profile_level_id(str(c.parameters.get("profile-level-id", "42e01f")))
    except ValueError:
        return False
    return profile in (aiosdp.H264Profile.PROFILE_CONSTRAINED_BASELINE, aiosdp.H264Profile.PROFILE_BASELINE)


def parse(sdp_text: Any, expected: Literal["offer", "answer"]) -> aiosdp.SessionDescription:
    """Parse and sanity-check a client description; MediaError names what is wrong."""
    if not isinstance(sdp_text, str) or not sdp_text.lstrip().startswith("v=0"):
        raise MediaError(f"sdp: {expected} is not an SDP description")
    try:
        description = aiosdp.SessionDescription.parse(sdp_text)
    except Exception as exc:  # aiortc's parser raises assorted errors (assert, index, value) on junk
        raise MediaError(f"sdp: malformed {expected}") from exc
    description.type = expected
    if not description.media:
        raise MediaError(f"sdp: {expected} has no media sections")
    for media in description.media:
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise MediaError(f"sdp: {expected} lacks ICE credentials")
        if media.dtls is None or not media.dtls.fingerprints:
            raise MediaError(f"sdp: {expected} lacks a DTLS fingerprint")
        if media.kind in ("audio", "video") and not media.rtcp_mux:
            raise MediaError(f"sdp: {expected} does not use rtcp-mux")
    return description


def require_video_codec(description: aiosdp.SessionDescription, codec: VideoCodec) -> None:
    """The client's video section must accept ``codec``; the mock never switches codecs silently."""
    video = [m for m in description.media if m.kind == "video"]
    if not video:
        raise MediaError(f"sdp: {description.type} has no video section")
    if description.type == "offer" and video[0].direction not in ("recvonly", "sendrecv"):
        raise MediaError("sdp: offer cannot receive video (direction must be recvonly or sendrecv)")
    if not any(_is_codec(c, codec) for c in video[0].rtp.codecs):
        detail = " (packetization-mode=1, baseline profile)" if codec == "H264" else ""
        raise MediaError(f"sdp: no {codec} codec{detail} in the {description.type}")


def parse_candidate(candidate: Any) -> RTCIceCandidate | None:
    """A trickled ``{candidate, sdpMid, sdpMLineIndex, usernameFragment}``; None = end of candidates."""
    if not isinstance(candidate, dict):
        raise MediaError("ice: candidate must be an object")
    line = candidate.get("candidate")
    mid = candidate.get("sdpMid")
    index = candidate.get("sdpMLineIndex")
    if not isinstance(line, str):
        raise MediaError("ice: candidate.candidate must be a string")
    if mid is not None and not isinstance(mid, str):
        raise MediaError("ice: sdpMid must be a string")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool) or index < 0):
        raise MediaError("ice: sdpMLineIndex must be a non-negative integer")
    line = line.strip()
    if not line:
        return None
    line = line.removeprefix("a=")
    if not line.startswith("candidate:"):
        raise MediaError("ice: malformed candidate")
    bits = line[len("candidate:") :].split()
    try:
        if len(bits) < 8 or bits[6] != "typ" or bits[7] not in _CANDIDATE_TYPES:
            raise ValueError("shape")
        if bits[2].lower() not in ("udp", "tcp") or not 1 <= int(bits[1]) <= 256:
            raise ValueError("transport/component")
        if not 0 < int(bits[5]) <= 65535 or int(bits[3]) < 0:
            raise ValueError("port/priority")
        if not bits[4].endswith(".local"):
            ipaddress.ip_address(bits[4])
        parsed = aiosdp.candidate_from_sdp(" ".join(bits))
    except (ValueError, AssertionError) as exc:
        raise MediaError("ice: malformed candidate") from exc
    parsed.sdpMid = mid
    parsed.sdpMLineIndex = index
    return parsed
