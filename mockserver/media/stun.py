"""A tiny STUN binding responder on loopback, handed to clients as their ICE server.

Clients that pass the mock's ``ice_servers`` to ``RTCPeerConnection`` get an answer at once instead of
waiting for a public STUN server that an offline machine cannot reach.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aioice import stun

logger = logging.getLogger(__name__)


class StunResponder(asyncio.DatagramProtocol):
    """Answers RFC 5389 Binding requests with the sender's address; ignores everything else."""

    def __init__(self) -> None:
        self._transport: asyncio.DatagramTransport | None = None
        self.requests = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        self._transport = transport

    @property
    def address(self) -> tuple[str, int]:
        if self._transport is None:
            raise RuntimeError("STUN responder not started")
        host, port = self._transport.get_extra_info("sockname")[:2]
        return host, port

    @property
    def running(self) -> bool:
        return self._transport is not None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            request = stun.parse_message(data)
        except ValueError:
            return
        if request.message_method != stun.Method.BINDING or request.message_class != stun.Class.REQUEST:
            return
        self.requests += 1
        response = stun.Message(
            message_method=stun.Method.BINDING,
            message_class=stun.Class.RESPONSE,
            transaction_id=request.transaction_id,
        )
        response.attributes["XOR-MAPPED-ADDRESS"] = (addr[0], addr[1])
        response.attributes["MAPPED-ADDRESS"] = (addr[0], addr[1])
        response.attributes["SOFTWARE"] = "streaming-avatar-testkit"
        response.add_fingerprint()
        if self._transport is not None:
            self._transport.sendto(bytes(response), addr)

    def error_received(self, exc: Exception) -> None:
        logger.debug("STUN responder: %s", exc)
