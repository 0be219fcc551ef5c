"""The one error type the media plane raises to the control plane."""


class MediaError(Exception):
    """A client-caused media failure; ``str(e)`` is short and safe to return to the API client.

    Messages start with the area (``sdp:``, ``ice:``, ``media:``) and never echo the client's SDP.
    """
