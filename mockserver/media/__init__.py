"""The WebRTC media plane: pre-encoded synthetic avatar clips replayed to aiortc peers on loopback."""

from mockserver.media.clips import read_frame_counter, read_frame_marker
from mockserver.media.errors import MediaError
from mockserver.media.peer import AvatarPeer
from mockserver.media.plane import MediaPlane
from mockserver.media.workers import RemotePeer, WorkerMediaPlane

__all__ = [
    "AvatarPeer",
    "MediaError",
    "MediaPlane",
    "RemotePeer",
    "WorkerMediaPlane",
    "read_frame_counter",
    "read_frame_marker",
]
