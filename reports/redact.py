"""Scrub keys, tokens and secrets out of run metadata before anything is rendered."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "[redacted]"

#: A mapping key whose name contains one of these is treated as secret, whatever its value.
_SECRET_NAME = re.compile(r"key|token|secret|passw|credential|auth|cookie|bearer|signature", re.IGNORECASE)

#: Values that look like credentials even under an innocent name.
_SECRET_VALUE = re.compile(
    r"(?i:bearer\s+\S+)"  # an Authorization header value
    r"|(?:eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)"  # a JWT
    r"|(?i:\b(?:sk|pk|api|key|tok)[_-][A-Za-z0-9_-]{12,})"  # prefixed API keys
    # long random blobs: 32+ chars mixing upper case, lower case and digits (hex ids and UUIDs pass)
    r"|(?:\b(?=[A-Za-z0-9+/_=-]*\d)(?=[A-Za-z0-9+/_=-]*[a-z])(?=[A-Za-z0-9+/_=-]*[A-Z])[A-Za-z0-9+/_=-]{32,})",
)
#: `name=value` / `name: value` pairs inside free text where the name looks secret.
_SECRET_PAIR = re.compile(
    r"(?P<name>[A-Za-z0-9_-]*(?:key|token|secret|passw|auth)[A-Za-z0-9_-]*)(?P<sep>\s*[=:]\s*)(?P<val>[^\s,;&]+)",
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    """True when a field called `name` probably holds a credential."""
    return bool(_SECRET_NAME.search(name))


def redact_text(text: str) -> str:
    """Replace credential-looking substrings of free text (notes, error messages)."""
    text = _SECRET_PAIR.sub(lambda m: f"{m.group('name')}{m.group('sep')}{REDACTED}", text)
    return _SECRET_VALUE.sub(REDACTED, text)


def redact_url(url: str) -> str:
    """Drop user:password@ and secret-looking query parameters from a URL; other text is scrubbed as text."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if not parts.scheme or not parts.netloc:
        return redact_text(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = urlencode(
        [(k, REDACTED if is_secret_name(k) else redact_text(v)) for k, v in parse_qsl(parts.query, True)],
        safe="[]",
    )
    return redact_text(urlunsplit((parts.scheme, netloc, parts.path, query, "")))


def redact(value: Any, name: str = "") -> Any:
    """Recursively scrub a JSON-like value; `name` is the key it was found under."""
    if name and is_secret_name(name):
        return REDACTED if value not in (None, "", [], {}) else value
    if isinstance(value, dict):
        return {redact_text(str(k)): redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, name) for v in value]
    if isinstance(value, str):
        return redact_url(value) if "://" in value else redact_text(value)
    return value
