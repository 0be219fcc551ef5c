"""Network impairments applied at the mock's own send path: loss, delay and jitter, a bandwidth cap, outages.

A ``NetworkShaper`` sits in front of one peer's ICE sockets and sees every datagram the peer sends: RTP from
the pacer, RTX answers to NACKs, RTCP, the data channel's DTLS/SCTP and STUN. So a bad network needs no root,
no ``tc``/netem and works on loopback, per session. An outage also drops what the peer hears: the mock's
silence check and the client's ICE consent checks then fail the way they would on a dead link.

What a datagram goes through, in order: outage (dropped), bottleneck (waits in a FIFO queue behind earlier
datagrams at ``bandwidth_kbps``; dropped when it would wait longer than ``queue_ms``), loss (random, or in
bursts by a two-state Gilbert model), then delay plus jitter (jitter wanders over time like queueing delay does,
and a datagram never overtakes an earlier one, as on most real paths).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import random
import weakref
from collections.abc import Iterable
from typing import Any

from aioice import stun
from aioice.ice import StunProtocol
from aiortc import RTCPeerConnection

from mockserver.config import NetworkConditions

__all__ = ["NetworkConditions", "NetworkShaper", "ice_protocols", "shaper_for"]

logger = logging.getLogger(__name__)

#: IPv4 + UDP headers: what a datagram costs a real link on top of its payload (counted against the cap).
UDP_IP_OVERHEAD = 28
#: Datagrams due this close together leave in one timer wake-up.
SEND_SLACK_S = 0.001
#: Jitter wanders like queueing delay does: correlated over this long, so datagrams close together see similar
#: delays and the FIFO rule (no reordering) rarely has to hold one back.
JITTER_CORRELATION_S = 0.1

Address = tuple[Any, ...]
_shapers: weakref.WeakKeyDictionary[StunProtocol, NetworkShaper] = weakref.WeakKeyDictionary()


def shaper_for(protocol: StunProtocol) -> NetworkShaper | None:
    """The shaper attached to an ICE socket (the lean RTP path looks it up per frame), if any."""
    return _shapers.get(protocol)


def ice_protocols(pc: RTCPeerConnection) -> list[StunProtocol]:
    """Every ICE socket of ``pc`` (after ``setLocalDescription``, which gathers them)."""
    transports = [t.receiver.transport.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport.transport)
    found: dict[int, StunProtocol] = {}
    for transport in transports:
        for protocol in transport._connection._protocols:
            found[id(protocol)] = protocol
    return list(found.values())


class NetworkShaper:
    """One peer's link to its client. ``own`` conditions (per session) win over the plane's ``default``."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._rng = rng or random.Random()
        self.own: NetworkConditions | None = None
        self.default: NetworkConditions | None = None
        #: What applies now; None when nothing is impaired (the send path then goes straight to the socket).
        self.conditions: NetworkConditions | None = None
        self._applied_at = self._loop.time()
        self._connected_at: float | None = None
        self._outage: tuple[float, float] | None = None
        self._link_free_at = 0.0
        self._loss = 0.0
        self._enter_burst = 0.0
        self._leave_burst = 1.0
        self._in_burst = False
        self._last_due = 0.0
        self._jitter = 0.0
        self._jitter_at = 0.0
        self._queue: collections.deque[tuple[float, asyncio.DatagramTransport, bytes, Address]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self.lost = 0
        self.queue_drops = 0
        self.outage_drops = 0
        self.inbound_drops = 0

    # ------------------------------------------------------------------------------ configuration

    @property
    def effective(self) -> NetworkConditions | None:
        return self.own if self.own is not None else self.default

    def set_own(self, conditions: NetworkConditions | None) -> None:
        self.own = conditions
        self._apply()

    def set_default(self, conditions: NetworkConditions | None) -> None:
        self.default = conditions
        if self.own is None:
            self._apply()

    def connected(self) -> None:
        """The peer is up: an outage waiting for the connection is scheduled from now."""
        if self._connected_at is None:
            self._connected_at = self._loop.time()
            self._arm_outage()

    def _apply(self) -> None:
        """Take the effective conditions from now on: fresh bottleneck and loss state, outage clock restarted."""
        conditions = self.effective
        self.conditions = conditions if conditions is not None and conditions.impairs else None
        self._applied_at = self._loop.time()
        self._link_free_at = 0.0
        self._in_burst = False
        if conditions is not None:
            loss = conditions.loss_percent / 100
            self._loss = loss
            bursty = conditions.burst_length > 1 and 0 < loss < 1
            # Gilbert: always lose in the burst state, never outside; leaving it with 1/L gives bursts of mean L,
            # and this entry probability makes the long-run share of lost datagrams ``loss``.
            self._leave_burst = 1 / conditions.burst_length if bursty else 1.0
            self._enter_burst = loss / (conditions.burst_length * (1 - loss)) if bursty else 0.0
        self._arm_outage()

    def _arm_outage(self) -> None:
        conditions = self.conditions
        if conditions is None or not conditions.outage_s or self._connected_at is None:
            self._outage = None
            return
        start = max(self._applied_at, self._connected_at) + conditions.outage_start_s
        self._outage = (start, start + conditions.outage_s)

    def in_outage(self, now: float | None = None) -> bool:
        outage = self._outage
        if outage is None:
            return False
        now = self._loop.time() if now is None else now
        return outage[0] <= now < outage[1]

    # ----------------------------------------------------------------------------------- sending

    @property
    def idle(self) -> bool:
        """Nothing to impair and nothing in flight: a sender may write to the socket itself."""
        return self.conditions is None and not self._queue

    def send(self, transport: asyncio.DatagramTransport, data: bytes, addr: Address) -> None:
        """One outgoing datagram: sent now, later, or never."""
        conditions = self.conditions
        now = self._loop.time()
        if conditions is None:
            if self._queue:  # conditions were just cleared: what is in flight still goes first
                self._enqueue(max(self._last_due, now), transport, data, addr)
            else:
                self._deliver(transport, data, addr)
            return
        if self.in_outage(now):
            self.outage_drops += 1
            return
        due = now
        if conditions.bandwidth_kbps is not None:
            start = max(now, self._link_free_at)
            if start - now > conditions.queue_ms / 1000:
                self.queue_drops += 1
                return
            self._link_free_at = start + (len(data) + UDP_IP_OVERHEAD) * 8 / (conditions.bandwidth_kbps * 1000)
            due = self._link_free_at
        if self._lose():
            self.lost += 1
            return
        due += conditions.delay_ms / 1000
        if conditions.jitter_ms:
            due += self._wander(now, conditions.jitter_ms) / 1000
        due = max(due, self._last_due)
        if due <= now + SEND_SLACK_S and not self._queue:
            self._last_due = due
            self._deliver(transport, data, addr)
        else:
            self._enqueue(due, transport, data, addr)

    def _lose(self) -> bool:
        if not self._loss:
            return False
        rng = self._rng
        if self._enter_burst == 0.0:
            return rng.random() < self._loss
        if self._in_burst:
            self._in_burst = rng.random() >= self._leave_burst
        else:
            self._in_burst = rng.random() < self._enter_burst
        return self._in_burst

    def _wander(self, now: float, sd_ms: float) -> float:
        """The jitter now (ms): an Ornstein-Uhlenbeck process with standard deviation ``sd_ms``."""
        keep = math.exp(-(now - self._jitter_at) / JITTER_CORRELATION_S)
        self._jitter_at = now
        self._jitter = keep * self._jitter + math.sqrt(1 - keep * keep) * self._rng.gauss(0, sd_ms)
        return self._jitter

    def _deliver(self, transport: asyncio.DatagramTransport, data: bytes, addr: Address) -> None:
        if not transport.is_closing():
            transport.sendto(data, addr)

    def _enqueue(self, due: float, transport: asyncio.DatagramTransport, data: bytes, addr: Address) -> None:
        self._last_due = due
        self._queue.append((due, transport, data, addr))
        if self._timer is None:
            self._timer = self._loop.call_at(due, self._flush)

    def _flush(self) -> None:
        self._timer = None
        now = self._loop.time()
        queue = self._queue
        while queue and queue[0][0] <= now + SEND_SLACK_S:
            _, transport, data, addr = queue.popleft()
            if self.in_outage(now):  # the link died with this datagram still on it
                self.outage_drops += 1
            else:
                self._deliver(transport, data, addr)
        if queue:
            self._timer = self._loop.call_at(queue[0][0], self._flush)

    # -------------------------------------------------------------------------------- the sockets

    def attach(self, protocols: Iterable[StunProtocol]) -> None:
        """Route these ICE sockets' outgoing datagrams through the shaper, and gate what they hear on outages."""
        for protocol in protocols:
            if protocol not in _shapers:
                _shapers[protocol] = self
                self._wrap(protocol)

    def _wrap(self, protocol: StunProtocol) -> None:
        received = protocol.datagram_received

        async def send_data(data: bytes, addr: tuple[str, int]) -> None:
            self.send(protocol.transport, data, addr)

        def send_stun(message: stun.Message, addr: tuple[str, int]) -> None:
            self.send(protocol.transport, bytes(message), addr)

        def datagram_received(data: bytes | str, addr: tuple[Any, ...]) -> None:
            if self._outage is not None and self.in_outage():
                self.inbound_drops += 1
                return
            received(data, addr)

        protocol.send_data = send_data  # type: ignore[method-assign]
        protocol.send_stun = send_stun  # type: ignore[method-assign]
        protocol.datagram_received = datagram_received  # type: ignore[method-assign]

    def close(self) -> None:
        """Drop whatever is still in flight (the peer is closing its sockets)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.clear()

    def stats(self) -> dict[str, int]:
        return {
            "network_lost": self.lost,
            "network_queue_drops": self.queue_drops,
            "network_outage_drops": self.outage_drops,
            "network_inbound_drops": self.inbound_drops,
            "network_in_flight": len(self._queue),
        }
