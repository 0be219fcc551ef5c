"""A faithful offline mock of the HeyGen-style streaming avatar API (REST control plane + WebRTC media)."""

from mockserver.config import Settings

__all__ = ["Settings"]
