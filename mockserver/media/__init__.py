"""WebRTC media plane (placeholder until the media plane lands; helper-1 replaces this file)."""

from typing import Any


class MediaError(Exception):
    """A media negotiation problem whose message is safe to return to the API client."""


MediaPlane: Any = None
