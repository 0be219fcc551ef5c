"""The protobuf frames the official SDK sends on the chat WebSocket (pipecat's ``Frame``: text, audio, transcription).

The SDK ships the schema as JSON and encodes with protobufjs; the same schema is declared here in a private
descriptor pool (so it cannot clash with pipecat's own ``frames.proto`` when both are imported).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_T = descriptor_pb2.FieldDescriptorProto


def _field(name: str, number: int, kind: _T.Type.ValueType, type_name: str = "", oneof: int | None = None) -> _T:
    field = _T(name=name, number=number, type=kind, label=_T.LABEL_OPTIONAL)
    if type_name:
        field.type_name = type_name
    if oneof is not None:
        field.oneof_index = oneof
    return field


def _build() -> Any:
    proto = descriptor_pb2.FileDescriptorProto(name="mockserver_sdk_frames.proto", package="pipecat", syntax="proto3")
    common = [_field("id", 1, _T.TYPE_UINT64), _field("name", 2, _T.TYPE_STRING)]
    proto.message_type.add(name="TextFrame", field=[*common, _field("text", 3, _T.TYPE_STRING)])
    proto.message_type.add(
        name="AudioRawFrame",
        field=[
            *common,
            _field("audio", 3, _T.TYPE_BYTES),
            _field("sample_rate", 4, _T.TYPE_UINT32),
            _field("num_channels", 5, _T.TYPE_UINT32),
        ],
    )
    proto.message_type.add(
        name="TranscriptionFrame",
        field=[
            *common,
            _field("text", 3, _T.TYPE_STRING),
            _field("user_id", 4, _T.TYPE_STRING),
            _field("timestamp", 5, _T.TYPE_STRING),
        ],
    )
    frame = proto.message_type.add(
        name="Frame",
        field=[
            _field("text", 1, _T.TYPE_MESSAGE, ".pipecat.TextFrame", oneof=0),
            _field("audio", 2, _T.TYPE_MESSAGE, ".pipecat.AudioRawFrame", oneof=0),
            _field("transcription", 3, _T.TYPE_MESSAGE, ".pipecat.TranscriptionFrame", oneof=0),
        ],
    )
    frame.oneof_decl.add(name="frame")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("pipecat.Frame"))


#: ``Frame.FromString(data)``; ``frame.WhichOneof("frame")`` is "text", "audio" or "transcription".
Frame = _build()
