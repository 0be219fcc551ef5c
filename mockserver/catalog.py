"""The mock's avatar catalogue: which ``avatar_id``/``avatar_name`` values exist and may stream."""

from __future__ import annotations

from typing import Any

from avatar_contract.codes import ErrorCode
from mockserver.errors import ApiError

DEFAULT_AVATAR = "default"

#: id -> (pose name, default voice, public, active). Inactive avatars exist but may not stream (10013).
AVATARS: dict[str, tuple[str, str, bool, bool]] = {
    "default": ("Default Avatar", "1bd001e7e50f421d891986aad5158bc8", True, True),
    "josh_lite3_20230714": ("Josh in Grey Suit", "1bd001e7e50f421d891986aad5158bc8", True, True),
    "Anna_public_3_20240108": ("Anna in Brown T-shirt", "73c0b6a2e29d4d38aca41454bf58c955", True, True),
    "Wayne_20240711": ("Wayne", "26b2064088674c80b1e5fc5ab1a068ea", True, True),
    "Tyler-incasualsuit-20220721": ("Tyler in Casual Suit", "077ab11b14f04ce0b49b5f6e5cc20979", True, False),
}


def resolve_avatar(requested: str | None) -> str:
    """The avatar a ``streaming.new`` gets: the default when none is asked for; 10012/10013 otherwise."""
    if requested is None:
        return DEFAULT_AVATAR
    entry = AVATARS.get(requested)
    if entry is None:
        raise ApiError(ErrorCode.AVATAR_NOT_FOUND, "avatar not found: avatar_id")
    if not entry[3]:
        raise ApiError(ErrorCode.AVATAR_NOT_ALLOWED, "avatar not allowed for streaming: avatar_id")
    return requested


def avatar_list(created_at: int) -> list[dict[str, Any]]:
    return [
        {
            "avatar_id": avatar_id,
            "created_at": created_at,
            "default_voice": voice,
            "is_public": public,
            "normal_preview": f"/__assets/avatars/{avatar_id}.png",
            "pose_name": pose,
            "status": "ACTIVE" if active else "INACTIVE",
        }
        for avatar_id, (pose, voice, public, active) in AVATARS.items()
    ]
