"""Request and response bodies of every ``/v1/streaming.*`` endpoint.

Requests ignore unknown fields (the real service does), accept enum values in any case, and are strict about
types: ``"120"`` is not an integer and ``1`` is not a string.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Quality = Literal["low", "medium", "high"]
VideoEncoding = Literal["H264", "VP8"]
TaskType = Literal["repeat", "talk", "chat"]
TaskMode = Literal["sync", "async"]
Emotion = Literal["Excited", "Serious", "Friendly", "Soothing", "Broadcaster"]
SessionStatus = Literal["new", "connecting", "connected", "closing", "closed"]


def _fold_case(value: Any, choices: tuple[str, ...]) -> Any:
    """Map ``value`` onto the spelling in ``choices`` ignoring case; anything else is left for validation."""
    if isinstance(value, str):
        for choice in choices:
            if value.lower() == choice.lower():
                return choice
    return value


def _nullable_optionals(schema: dict[str, Any], _: type) -> None:
    """In the published schema, every optional field also takes ``null`` (see ``Request``)."""
    required = set(schema.get("required", ()))
    properties: dict[str, Any] = schema.get("properties", {})
    for name, prop in properties.items():
        variants = prop.get("anyOf", [prop])
        if name in required or any(v.get("type") == "null" for v in variants):
            continue
        kept = {key: prop.pop(key) for key in ("title", "description", "default") if key in prop}
        properties[name] = {"anyOf": [prop, {"type": "null"}], **kept}


class Request(BaseModel):
    """A request body. ``null`` counts as absent: real clients send it for "not set" (pipecat sends every field
    of ``streaming.new``, most of them ``null``) and the real service accepts that."""

    model_config = ConfigDict(extra="ignore", strict=True, json_schema_extra=_nullable_optionals)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class Response(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ElevenLabsSettings(Request):
    stability: float | None = None
    similarity_boost: float | None = None
    style: float | None = None
    use_speaker_boost: bool | None = None
    model_id: str | None = None


class VoiceSettings(Request):
    voice_id: str | None = None
    rate: float = Field(default=1.0, gt=0, le=4)
    emotion: Emotion | None = None
    elevenlabs_settings: ElevenLabsSettings | None = None

    @field_validator("emotion", mode="before")
    @classmethod
    def _emotion_any_case(cls, v: Any) -> Any:
        return _fold_case(v, ("Excited", "Serious", "Friendly", "Soothing", "Broadcaster"))

    @field_validator("rate", mode="before")
    @classmethod
    def _rate_number(cls, v: Any) -> Any:
        # Strict mode refuses ints for floats in Python input; JSON numbers are numbers.
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v


class NewSessionRequest(Request):
    quality: Quality = "low"
    avatar_id: str | None = None
    avatar_name: str | None = None
    voice: VoiceSettings | None = None
    voice_id: str | None = Field(default=None, description="The seed document's flat form of voice.voice_id.")
    video_encoding: VideoEncoding = "VP8"
    version: Literal["v1", "v2"] | None = None
    activity_idle_timeout: int | None = Field(default=None, ge=30, le=3600)
    disable_idle_timeout: bool = False
    knowledge_base: str | None = None
    knowledge_base_id: str | None = None
    language: str | None = None
    stt_settings: dict[str, Any] | None = None
    source: str | None = None
    ia_is_livekit_transport: bool | None = None
    silence_response: bool | None = None
    livekit_settings: dict[str, Any] | None = None

    @field_validator("quality", mode="before")
    @classmethod
    def _quality_any_case(cls, v: Any) -> Any:
        return _fold_case(v, ("low", "medium", "high"))

    @field_validator("video_encoding", mode="before")
    @classmethod
    def _encoding_any_case(cls, v: Any) -> Any:
        return _fold_case(v, ("H264", "VP8"))

    @field_validator("version", mode="before")
    @classmethod
    def _version_any_case(cls, v: Any) -> Any:
        return _fold_case(v, ("v1", "v2"))

    @property
    def requested_avatar(self) -> str | None:
        return self.avatar_id or self.avatar_name


class SessionIdRequest(Request):
    session_id: str = Field(min_length=1, max_length=256)


class SessionDescription(Request):
    type: Literal["offer", "answer"]
    sdp: str = Field(min_length=1)


class StartRequest(SessionIdRequest):
    sdp: SessionDescription | None = None


class IceCandidate(Request):
    candidate: str
    sdpMid: str | None = None
    sdpMLineIndex: int | None = Field(default=None, ge=0)
    usernameFragment: str | None = None


class IceRequest(SessionIdRequest):
    candidate: IceCandidate


class TaskRequest(SessionIdRequest):
    text: str
    task_type: TaskType = "talk"
    task_mode: TaskMode = "sync"

    @field_validator("task_type", mode="before")
    @classmethod
    def _type_any_case(cls, v: Any) -> Any:
        return _fold_case(v, ("repeat", "talk", "chat"))

    @field_validator("task_mode", mode="before")
    @classmethod
    def _mode_any_case(cls, v: Any) -> Any:
        return _fold_case(v, ("sync", "async"))


class HistoryQuery(Request):
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=20, ge=1, le=100)


# --- responses (the ``data`` member of the success envelope) ---


class CreateTokenData(Response):
    token: str


class IceServer(Response):
    urls: list[str]
    username: str | None = None
    credential: str | None = None
    credentialType: str | None = None


class ServerSdp(Response):
    type: Literal["offer", "answer"]
    sdp: str


class NewSessionData(Response):
    """Both shapes: v1 (``sdp`` + ICE servers) and v2 (room ``url`` + tokens). Absent fields are omitted."""

    session_id: str
    access_token: str
    url: str
    session_duration_limit: int
    is_paid: bool = False
    sdp: ServerSdp | None = None
    ice_servers: list[IceServer] | None = None
    ice_servers2: list[IceServer] | None = None
    livekit_agent_token: str | None = None
    realtime_endpoint: str | None = None


class StartData(Response):
    sdp: ServerSdp | None = None


class TaskData(Response):
    duration_ms: float
    task_id: str


class SessionSummary(Response):
    session_id: str
    status: SessionStatus
    created_at: int


class SessionListData(Response):
    sessions: list[SessionSummary]


class SessionHistoryItem(Response):
    session_id: str
    status: SessionStatus
    created_at: int
    api_key_type: str
    duration: int
    avatar_id: str
    voice_name: str


class SessionHistoryPage(Response):
    total: int
    page: int
    page_size: int
    next_pagination_token: str | None
    data: list[SessionHistoryItem]


class AvatarInfo(Response):
    avatar_id: str
    created_at: int
    default_voice: str
    is_public: bool
    normal_preview: str
    pose_name: str
    status: Literal["ACTIVE", "INACTIVE"]
