"""Contract models: unknown fields ignored, enums in any case, strict types."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from avatar_contract.models import NewSessionRequest, TaskRequest


def test_unknown_fields_are_ignored_and_enums_fold_case() -> None:
    req = NewSessionRequest.model_validate({"quality": "Medium", "video_encoding": "h264", "whatever": [1]})
    assert (req.quality, req.video_encoding, req.version) == ("medium", "H264", None)
    assert TaskRequest.model_validate({"session_id": "s", "text": "t", "task_type": "REPEAT"}).task_type == "repeat"


def test_defaults() -> None:
    req = NewSessionRequest.model_validate({})
    assert (req.quality, req.video_encoding, req.requested_avatar) == ("low", "VP8", None)
    task = TaskRequest.model_validate({"session_id": "s", "text": "t"})
    assert (task.task_type, task.task_mode) == ("talk", "sync")


@pytest.mark.parametrize(
    "payload",
    [{"activity_idle_timeout": "60"}, {"activity_idle_timeout": True}, {"avatar_id": 5}, {"voice": "x"}],
)
def test_types_are_strict(payload: dict) -> None:
    with pytest.raises(ValidationError):
        NewSessionRequest.model_validate(payload)


def test_voice_rate_accepts_json_integers() -> None:
    assert NewSessionRequest.model_validate({"voice": {"rate": 1}}).voice.rate == 1.0  # type: ignore[union-attr]


def test_null_means_absent() -> None:
    """pipecat's ``streaming.new``: every field sent, most of them null; the real service takes that."""
    body = {
        "quality": None,
        "avatar_id": "default",
        "voice": {"voice_id": None, "rate": None, "emotion": None, "elevenlabs_settings": None},
        "knowledge_id": None,
        "knowledge_base": None,
        "version": "v2",
        "video_encoding": None,
        "disable_idle_timeout": None,
        "activity_idle_timeout": None,
    }
    req = NewSessionRequest.model_validate(body)
    assert (req.quality, req.video_encoding, req.disable_idle_timeout, req.voice.rate) == ("low", "VP8", False, 1.0)  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="Field required"):
        TaskRequest.model_validate({"session_id": "s", "text": None})
    schema = NewSessionRequest.model_json_schema()
    assert {"type": "null"} in schema["properties"]["quality"]["anyOf"]
    assert {"type": "null"} not in TaskRequest.model_json_schema()["properties"]["text"].get("anyOf", [])
