"""The lean send path for replayed clips: one timer for all sessions, RTP built from pre-cut payloads.

aiortc's own sender runs a task per track that awaits each frame, re-packetizes it and builds, fills
and serializes an ``RtpPacket`` object per RTP packet before handing it through three layers of
coroutines to the socket. Replayed clips never change, so here each clip is packetized once (shared
by every session), a ``Pacer`` wakes once per 20 ms tick for every session of the process, the RTP
header is serialized once per stream (timestamps patched per frame, sequence number and marker per
packet), and each packet gets SRTP protection and a ``sendto`` on the nominated ICE socket (or goes to the
socket's ``NetworkShaper`` when the session's network is impaired). RTCP sender reports, NACK retransmission
(with RTX), stats and keyframe requests keep working through the sender's own state.

This relies on aiortc/aioice private attributes. ``install`` checks for them and, if this aiortc
lacks any, leaves the stock loop in place (the tracks also serve it through ``recv``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpSender
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import PACKET_MAX
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import RTP_HISTORY_SIZE, RtpPacket, wrap_rtx
from aiortc.utils import random32

from mockserver.media.clips import EncodedClip
from mockserver.media.impairments import shaper_for

if TYPE_CHECKING:
    from mockserver.media.tracks import ReplayTrack

logger = logging.getLogger(__name__)

# The private state of RTCRtpSender / RTCDtlsTransport the lean path reads and keeps up to date.
_RTP_STARTED = "_RTCRtpSender__rtp_started"
_RTP_EXITED = "_RTCRtpSender__rtp_exited"
_MID = "_RTCRtpSender__mid"
_EXTENSIONS_MAP = "_RTCRtpSender__rtp_header_extensions_map"
_RTX_PAYLOAD_TYPE = "_RTCRtpSender__rtx_payload_type"
_RTX_SEQUENCE_NUMBER = "_RTCRtpSender__rtx_sequence_number"
_NTP_TIMESTAMP = "_RTCRtpSender__ntp_timestamp"  # these four feed RTCP sender reports and getStats()
_RTP_TIMESTAMP = "_RTCRtpSender__rtp_timestamp"
_OCTET_COUNT = "_RTCRtpSender__octet_count"
_PACKET_COUNT = "_RTCRtpSender__packet_count"
_SENDER_STATE = (
    _RTP_STARTED,
    _RTP_EXITED,
    _MID,
    _EXTENSIONS_MAP,
    _RTX_PAYLOAD_TYPE,
    _RTX_SEQUENCE_NUMBER,
    _NTP_TIMESTAMP,
    _RTP_TIMESTAMP,
    _OCTET_COUNT,
    _PACKET_COUNT,
)
_TX_BYTES = "_RTCDtlsTransport__tx_bytes"
_TX_PACKETS = "_RTCDtlsTransport__tx_packets"
_DTLS_STATE = ("_state", "_tx_srtp", _TX_BYTES, _TX_PACKETS)
VP8_DESCRIPTOR_BYTES = 4  # X=1 with a 15-bit picture id, as aiortc sends it
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900 (NTP) to 1970 (Unix)
_payloads: weakref.WeakKeyDictionary[EncodedClip, tuple[tuple[bytes, ...], ...]] = weakref.WeakKeyDictionary()


def clip_payloads(codec: str, clip: EncodedClip) -> tuple[tuple[bytes, ...], ...]:
    """Per frame, its RTP payloads (VP8: without the per-frame descriptor); computed once per clip."""
    cached = _payloads.get(clip)
    if cached is None:
        if codec == "H264":
            cached = tuple(tuple(H264Encoder._packetize(H264Encoder._split_bitstream(p))) for p in clip.packets)
        elif codec == "VP8":
            size = PACKET_MAX - VP8_DESCRIPTOR_BYTES
            cached = tuple(tuple(p[i : i + size] for i in range(0, len(p), size)) for p in clip.packets)
        else:
            cached = tuple((p,) for p in clip.packets)
        _payloads[clip] = cached
    return cached


def vp8_payloads(chunks: tuple[bytes, ...], picture_id: int) -> list[bytes]:
    """Prefix the VP8 payload descriptor (start-of-partition on the first packet only)."""
    pid = bytes(((0x80 | picture_id >> 8) & 0xFF, picture_id & 0xFF))
    first, rest = b"\x90\x80" + pid, b"\x80\x80" + pid
    return [(first if i == 0 else rest) + chunk for i, chunk in enumerate(chunks)]


class Pacer:
    """One timer for every lean stream: each tick sends whatever frames are due, for all sessions."""

    def __init__(self) -> None:
        self._streams: dict[LeanRtp, None] = {}  # insertion-ordered set
        self._timer: asyncio.TimerHandle | None = None

    @property
    def streams(self) -> int:
        return len(self._streams)

    @property
    def ticking(self) -> bool:
        return self._timer is not None

    def add(self, stream: LeanRtp) -> None:
        self._streams[stream] = None
        self._schedule(asyncio.get_running_loop())

    def remove(self, stream: LeanRtp) -> None:
        self._streams.pop(stream, None)
        if not self._streams and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._streams:
            return
        now = loop.time()
        when = min(stream.track.next_due(now) for stream in self._streams)
        if self._timer is not None:
            if self._timer.when() <= when:
                return
            self._timer.cancel()
        self._timer = loop.call_at(when, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        ntp = int((time.time() + NTP_EPOCH_OFFSET) * (1 << 32))  # what aiortc's clock gives, computed once
        # Build and protect every due packet first, then send them back to back: receivers then wake
        # once per tick instead of once per packet, which is what a loopback sendto mostly costs.
        outbox: list[tuple[asyncio.DatagramTransport, bytes, tuple[str, int]]] = []
        for stream in list(self._streams):
            try:
                stream.send_due(now, ntp, outbox)
            except Exception:
                logger.exception("replay stream failed; dropping it")
                self.remove(stream)
        for udp, data, address in outbox:
            udp.sendto(data, address)
        self._schedule(loop)


def install(sender: RTCRtpSender, track: ReplayTrack, pacer: Pacer) -> bool:
    """Send ``track`` through the pacer instead of aiortc's loop; False leaves aiortc's loop in place."""
    dtls = sender.transport
    if not (
        all(name in vars(sender) for name in _SENDER_STATE)
        and all(name in vars(dtls) for name in _DTLS_STATE)
        and hasattr(dtls.transport._connection, "_nominated")
    ):
        logger.warning("aiortc internals changed: replay peers use aiortc's slower RTP loop")
        return False
    lean = LeanRtp(sender, track, pacer)
    sender._run_rtp = lean.run  # type: ignore[method-assign]
    sender._retransmit = lean.retransmit  # type: ignore[method-assign]
    return True


class LeanRtp:
    """Stands in for one sender's RTP task while the sender is started."""

    def __init__(self, sender: RTCRtpSender, track: ReplayTrack, pacer: Pacer) -> None:
        self.track = track
        self._sender = sender
        self._state: dict[str, Any] = vars(sender)
        self._pacer = pacer
        self._history: list[bytes | None] = [None] * RTP_HISTORY_SIZE
        self._history_seq = [-1] * RTP_HISTORY_SIZE
        self._sequence_number = random_sequence_number()
        self._origin = random32()
        self._payload_type = 0
        self._header = b""
        self._abs_send_time_at = -1

    async def run(self, codec: RTCRtpCodecParameters) -> None:
        """Replaces ``RTCRtpSender._run_rtp``: register with the pacer until the sender stops."""
        self._state[_RTP_STARTED].set()
        self._payload_type = codec.payloadType or 0
        self._header, self._abs_send_time_at = self._header_template()
        self._pacer.add(self)
        try:
            await asyncio.get_running_loop().create_future()  # until RTCRtpSender.stop() cancels us
        except asyncio.CancelledError:
            pass
        finally:
            self._pacer.remove(self)
            self.track.stop()
            self._state[_RTP_EXITED].set()

    def _header_template(self) -> tuple[bytes, int]:
        """The RTP header aiortc would write (with the negotiated extensions), and where abs-send-time sits."""
        packet = RtpPacket(payload_type=self._payload_type, ssrc=self._sender._ssrc)
        packet.extensions.mid = self._state[_MID]
        extensions_map = self._state[_EXTENSIONS_MAP]
        packet.extensions.abs_send_time = 0
        zero = packet.serialize(extensions_map)
        packet.extensions.abs_send_time = 0xFFFFFF
        ones = packet.serialize(extensions_map)
        at = next((i for i in range(12, len(zero)) if zero[i] != ones[i]), -1)  # -1: not negotiated
        return zero, at

    def send_due(self, now: float, ntp: int, outbox: list[tuple[asyncio.DatagramTransport, bytes, Any]]) -> None:
        """Queue the RTP packets of every frame now due (protected, ready for ``sendto``)."""
        track = self.track
        while track.next_due(now) <= now:
            payloads, timestamp = track.take(now)
            self._send(payloads, timestamp, ntp, outbox)

    def _send(
        self,
        payloads: list[bytes],
        timestamp: int,
        ntp: int,
        outbox: list[tuple[asyncio.DatagramTransport, bytes, Any]],
    ) -> None:
        dtls = self._sender.transport
        pair = dtls.transport._connection._nominated.get(1)
        srtp = dtls._tx_srtp
        udp = pair.protocol.transport if pair is not None else None
        if dtls._state is not DtlsState.CONNECTED or udp is None or srtp is None or udp.is_closing():
            return  # not (or no longer) connected: the slot passes unsent, as a freeze
        address = pair.remote_addr  # type: ignore[union-attr]  # udp is not None, so neither is pair
        shaper = shaper_for(pair.protocol)  # type: ignore[union-attr]
        if shaper is not None and shaper.idle:
            shaper = None  # an unimpaired link: straight to the socket with the others
        rtp_timestamp = (self._origin + timestamp) & 0xFFFFFFFF
        header = bytearray(self._header)
        header[4:8] = rtp_timestamp.to_bytes(4, "big")
        if self._abs_send_time_at > 0:
            header[self._abs_send_time_at : self._abs_send_time_at + 3] = ((ntp >> 14) & 0xFFFFFF).to_bytes(3, "big")
        history, history_seq = self._history, self._history_seq
        seq, last, octets, size = self._sequence_number, len(payloads) - 1, 0, 0
        for i, payload in enumerate(payloads):
            header[1] = self._payload_type | (0x80 if i == last else 0)
            header[2], header[3] = seq >> 8, seq & 0xFF
            packet = bytes(header) + payload
            history[seq % RTP_HISTORY_SIZE], history_seq[seq % RTP_HISTORY_SIZE] = packet, seq
            protected = srtp.protect(packet)
            if shaper is not None:
                shaper.send(udp, protected, address)
            else:
                outbox.append((udp, protected, address))
            octets += len(payload)
            size += len(protected)
            seq = (seq + 1) & 0xFFFF
        self._sequence_number = seq
        state = self._state
        state[_NTP_TIMESTAMP] = ntp
        state[_RTP_TIMESTAMP] = rtp_timestamp
        state[_OCTET_COUNT] += octets
        state[_PACKET_COUNT] += len(payloads)
        dtls_state = vars(dtls)
        dtls_state[_TX_BYTES] += size
        dtls_state[_TX_PACKETS] += len(payloads)

    async def retransmit(self, sequence_number: int) -> None:
        """Replaces ``RTCRtpSender._retransmit``: answer a NACK from history, in RTX when negotiated."""
        slot = sequence_number % RTP_HISTORY_SIZE
        data = self._history[slot]
        if data is None or self._history_seq[slot] != sequence_number:
            return
        state = self._state
        rtx_payload_type = state[_RTX_PAYLOAD_TYPE]
        if rtx_payload_type is not None:
            extensions_map = state[_EXTENSIONS_MAP]
            packet = wrap_rtx(
                RtpPacket.parse(data, extensions_map),
                payload_type=rtx_payload_type,
                sequence_number=state[_RTX_SEQUENCE_NUMBER],
                ssrc=self._sender._rtx_ssrc,
            )
            state[_RTX_SEQUENCE_NUMBER] = (state[_RTX_SEQUENCE_NUMBER] + 1) & 0xFFFF
            data = packet.serialize(extensions_map)
        await self._sender.transport._send_rtp(data)
