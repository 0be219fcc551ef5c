"""LiveKit-style room tokens: HS256 JWTs with LiveKit's claims, signed and checked by the mock alone.

A LiveKit access token names the API key (``iss``), the participant (``sub``, ``name``), its lifetime (``nbf``,
``exp``) and a ``video`` grant (``room``, ``roomJoin``, publish/subscribe rights). Clients never look inside; the
server refuses a bad one with HTTP 401 and the reason LiveKit gives, so refusals read like the real thing.
Expiry is checked against the mock's clock, so tests can expire a token without waiting.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import jwt

from mockserver.clock import Clock

#: The mock's one LiveKit API key (LiveKit keys start with ``API``).
API_KEY = "APImockavatarkit"
ALGORITHM = "HS256"
#: How LiveKit's JWT library (go-jose) starts its validation errors.
_JWT_INVALID = "go-jose/go-jose/jwt: validation failed"


class TokenRefused(Exception):
    """Why a token is not accepted, as LiveKit words it, and the HTTP status it answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RoomGrant:
    """What a verified token allows: who joins which room."""

    identity: str
    name: str
    room: str
    kind: str


class RoomTokens:
    """Issues and verifies the room tokens of v2 sessions with a secret that lives as long as the process."""

    def __init__(self, clock: Clock, secret: str | None = None) -> None:
        self._clock = clock
        self._secret = secret or secrets.token_urlsafe(32)

    def issue(self, room: str, identity: str, ttl_s: float, kind: str = "standard") -> str:
        """A token that joins ``room`` as ``identity`` until ``ttl_s`` from now."""
        now = int(self._clock.time())
        claims: dict[str, Any] = {
            "iss": API_KEY,
            "sub": identity,
            "name": identity,
            "nbf": now,
            "exp": now + int(ttl_s),
            "kind": kind,
            "metadata": "",
            "video": {
                "room": room,
                "roomJoin": True,
                "canPublish": True,
                "canSubscribe": True,
                "canPublishData": True,
            },
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> RoomGrant:
        """The grant of a valid token; TokenRefused (401) for anything else, in LiveKit's words."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenRefused(401, "invalid authorization token") from None
        if header.get("alg") != ALGORITHM:
            raise TokenRefused(401, "invalid authorization token")
        if unverified.get("iss") != API_KEY:
            raise TokenRefused(401, f"invalid API key: {str(unverified.get('iss', ''))[:64]}")
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], options={"verify_exp": False, "verify_nbf": False}
            )
        except jwt.PyJWTError:
            raise TokenRefused(401, "invalid token, error: go-jose/go-jose: error in cryptographic primitive") from None
        now = self._clock.time()
        if isinstance(claims.get("exp"), int | float) and now > claims["exp"]:
            raise TokenRefused(401, f"invalid token, error: {_JWT_INVALID}, token is expired (exp)")
        if isinstance(claims.get("nbf"), int | float) and now < claims["nbf"]:
            raise TokenRefused(401, f"invalid token, error: {_JWT_INVALID}, token not valid yet (nbf)")
        video = claims.get("video")
        if not isinstance(video, dict):
            raise TokenRefused(401, "no permissions to access the room")
        if video.get("roomJoin") is not True:
            raise TokenRefused(401, "permissions denied")
        identity = claims.get("sub")
        if not isinstance(identity, str) or not identity:
            raise TokenRefused(400, "identity cannot be empty")
        return RoomGrant(
            identity=identity,
            name=str(claims.get("name") or ""),
            room=str(video.get("room") or ""),
            kind=str(claims.get("kind") or "standard"),
        )
