"""The loopback STUN responder answers Binding requests with the sender's address and ignores the rest."""

from __future__ import annotations

import asyncio
import socket

from aioice import stun

from mockserver.media.stun import StunResponder


async def test_binding_request_gets_the_mapped_address() -> None:
    responder = StunResponder()
    await responder.start()
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    try:
        sock.sendto(b"\x17junk that is not STUN", responder.address)
        sock.sendto(bytes(stun.Message(stun.Method.ALLOCATE, stun.Class.REQUEST)), responder.address)
        request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
        sock.sendto(bytes(request), responder.address)
        data = await asyncio.wait_for(loop.sock_recv(sock, 2048), 2)
        response = stun.parse_message(data)
        assert response.message_class == stun.Class.RESPONSE
        assert response.transaction_id == request.transaction_id
        assert response.attributes["XOR-MAPPED-ADDRESS"] == sock.getsockname()
        assert responder.requests == 1
    finally:
        sock.close()
        responder.close()
        responder.close()
    assert not responder.running
