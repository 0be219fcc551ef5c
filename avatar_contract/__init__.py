"""The streaming API's wire contract: request/response models shared by the mock and the client.

One set of pydantic models serves the mock's validation, the client's parsing and the mock's ``/openapi.json``.
"""

from avatar_contract.codes import ErrorCode
from avatar_contract.models import (
    AvatarInfo,
    CreateTokenData,
    IceCandidate,
    IceRequest,
    IceServer,
    NewSessionData,
    NewSessionRequest,
    SessionDescription,
    SessionHistoryItem,
    SessionHistoryPage,
    SessionIdRequest,
    SessionListData,
    SessionSummary,
    StartData,
    StartRequest,
    TaskData,
    TaskRequest,
    VoiceSettings,
)

__all__ = [
    "AvatarInfo",
    "CreateTokenData",
    "ErrorCode",
    "IceCandidate",
    "IceRequest",
    "IceServer",
    "NewSessionData",
    "NewSessionRequest",
    "SessionDescription",
    "SessionHistoryItem",
    "SessionHistoryPage",
    "SessionIdRequest",
    "SessionListData",
    "SessionSummary",
    "StartData",
    "StartRequest",
    "TaskData",
    "TaskRequest",
    "VoiceSettings",
]
