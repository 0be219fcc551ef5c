"""ICE on loopback: host candidates on 127.0.0.1 only, and a record of when the client was last heard.

aioice leaves 127.0.0.1 out of its host candidates and has no option to put it back, so each aioice
``Connection`` of a mock peer gets its candidate gathering and its inbound hooks wrapped (per instance:
client peers in the same process keep stock behaviour). The sockets it opens also get a 64 KiB read buffer instead
of asyncio's 256 KiB (``DATAGRAM_READ_BYTES``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aioice import Connection, stun
from aioice.ice import StunProtocol
from aiortc import RTCPeerConnection

LOOPBACK = "127.0.0.1"
#: What each ICE socket reads a datagram into: any UDP datagram fits (at most 65,507 bytes). asyncio's default,
#: 256 KiB, is malloc'd for every datagram and then shrunk to its size; with a few thousand datagrams a second
#: that fragments glibc's heap, and the mock's RSS crept by ~0.7 MiB per 1,000 sessions although nothing leaked
#: (measured with benchmarks/memory_per_session.py and benchmarks/soak.py).
DATAGRAM_READ_BYTES = 64 * 1024


def prepare_loopback_ice(pc: RTCPeerConnection, on_heard: Callable[[], None]) -> None:
    """Call once, right before ``setLocalDescription`` (which gathers), when every transport exists."""
    transports = [t.receiver.transport.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport.transport)
    for ice_transport in transports:
        _prepare(ice_transport._connection, on_heard)


def _prepare(connection: Connection, on_heard: Callable[[], None]) -> None:
    gather = connection.get_component_candidates
    data_received = connection.data_received
    request_received = connection.request_received

    async def loopback_candidates(component: int, addresses: list[str], timeout: int = 5) -> Any:
        candidates = await gather(component=component, addresses=[LOOPBACK], timeout=timeout)
        for protocol in connection._protocols:
            _small_reads(protocol.transport)
        return candidates

    def heard_data(data: bytes, component: int) -> None:
        on_heard()
        data_received(data, component)

    def heard_request(message: stun.Message, addr: tuple[str, int], protocol: StunProtocol) -> None:
        on_heard()
        request_received(message, addr, protocol)

    connection.get_component_candidates = loopback_candidates  # type: ignore[method-assign]
    connection.data_received = heard_data  # type: ignore[method-assign]
    connection.request_received = heard_request  # type: ignore[method-assign]


def _small_reads(transport: object) -> None:
    """Read into ``DATAGRAM_READ_BYTES`` (asyncio's selector transports; other loops, e.g. uvloop, size their own)."""
    if isinstance(getattr(transport, "max_size", None), int):
        transport.max_size = DATAGRAM_READ_BYTES  # type: ignore[attr-defined]
