"""Room tokens: LiveKit's claims, checked on the mock's clock, refused in LiveKit's words."""

from __future__ import annotations

import jwt
import pytest
from aiohttp.test_utils import TestClient
from jwt.types import Options

from mockserver.clock import FakeClock
from mockserver.rooms.tokens import API_KEY, RoomTokens, TokenRefused
from tests.mockserver.helpers import call, new_session
from tests.mockserver.rooms.helpers import service_of

#: The fake clock is not the wall clock: only the mock judges expiry here.
NO_EXP: Options = {"verify_exp": False, "verify_nbf": False}


def test_issue_carries_livekit_claims(clock: FakeClock) -> None:
    tokens = RoomTokens(clock, secret="s" * 32)
    claims = jwt.decode(tokens.issue("room-1", "client", ttl_s=600), "s" * 32, algorithms=["HS256"], options=NO_EXP)
    assert claims["iss"] == API_KEY and claims["sub"] == "client"
    assert claims["exp"] - claims["nbf"] == 600 and claims["nbf"] == int(clock.time())
    assert claims["video"] == {
        "room": "room-1",
        "roomJoin": True,
        "canPublish": True,
        "canSubscribe": True,
        "canPublishData": True,
    }
    grant = tokens.verify(tokens.issue("room-1", "agent", ttl_s=60, kind="agent"))
    assert (grant.identity, grant.room, grant.kind) == ("agent", "room-1", "agent")


async def test_expiry_follows_the_mock_clock(clock: FakeClock) -> None:
    tokens = RoomTokens(clock)
    token = tokens.issue("r", "client", ttl_s=60)
    await clock.advance(59)
    assert tokens.verify(token).identity == "client"
    await clock.advance(2)
    with pytest.raises(TokenRefused, match=r"token is expired \(exp\)") as refused:
        tokens.verify(token)
    assert refused.value.status == 401


@pytest.mark.parametrize(
    ("claims", "status", "reason"),
    [
        ({"iss": "APIother"}, 401, "invalid API key: APIother"),
        ({"video": None}, 401, "no permissions to access the room"),
        ({"video": {"room": "r", "roomJoin": False}}, 401, "permissions denied"),
        ({"sub": ""}, 400, "identity cannot be empty"),
        ({"nbf": 2_000_000_000}, 401, "token not valid yet"),
    ],
)
def test_refusals(clock: FakeClock, claims: dict[str, object], status: int, reason: str) -> None:
    tokens = RoomTokens(clock, secret="k" * 32)
    base = jwt.decode(tokens.issue("r", "client", ttl_s=60), "k" * 32, algorithms=["HS256"], options=NO_EXP)
    token = jwt.encode({**base, **claims}, "k" * 32, algorithm="HS256")
    with pytest.raises(TokenRefused, match=reason) as refused:
        tokens.verify(token)
    assert refused.value.status == status


@pytest.mark.parametrize("token", ["not-a-jwt", jwt.encode({"iss": API_KEY}, key="", algorithm="none")])
def test_garbage_and_unsigned_tokens(clock: FakeClock, token: str) -> None:
    with pytest.raises(TokenRefused, match="invalid authorization token"):
        RoomTokens(clock).verify(token)


def test_another_secret_is_a_bad_signature(clock: FakeClock) -> None:
    with pytest.raises(TokenRefused, match="cryptographic primitive"):
        RoomTokens(clock).verify(RoomTokens(clock).issue("r", "client", ttl_s=60))


async def test_v2_sessions_get_two_room_tokens_v1_keeps_its_own(api: TestClient) -> None:
    tokens = service_of(api).rooms.tokens
    data = (await call(api, "new", {"version": "v2"}))[1]["data"]
    client, agent = tokens.verify(data["access_token"]), tokens.verify(data["livekit_agent_token"])
    assert (client.identity, agent.identity, agent.kind) == ("client", "agent", "agent")
    assert client.room == agent.room == data["session_id"]
    limit = jwt.decode(data["access_token"], options={"verify_signature": False})
    assert limit["exp"] - limit["nbf"] == data["session_duration_limit"]
    v1 = (await call(api, "new", {}))[1]["data"]
    assert v1["access_token"].count(".") != 2 and "livekit_agent_token" not in v1
    assert await new_session(api)
