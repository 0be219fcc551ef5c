"""ICE on loopback: host candidates on 127.0.0.1 only, and a record of when the client was last heard.

aioice leaves 127.0.0.1 out of its host candidates and has no option to put it back, so each aioice
``Connection`` of a mock peer gets its candidate gathering and its inbound hooks wrapped (per instance:
client peers in the same process keep stock behaviour).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aioice import Connection, stun
from aioice.ice import StunProtocol
from aiortc import RTCPeerConnection

LOOPBACK = "127.0.0.1"


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
        return await gather(component=component, addresses=[LOOPBACK], timeout=timeout)

    def heard_data(data: bytes, component: int) -> None:
        on_heard()
        data_received(data, component)

    def heard_request(message: stun.Message, addr: tuple[str, int], protocol: StunProtocol) -> None:
        on_heard()
        request_received(message, addr, protocol)

    connection.get_component_candidates = loopback_candidates  # type: ignore[method-assign]
    connection.data_received = heard_data  # type: ignore[method-assign]
    connection.request_received = heard_request  # type: ignore[method-assign]
