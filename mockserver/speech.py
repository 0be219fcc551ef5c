"""Text -> speaking time, the way a TTS voice would take it: words per minute plus pauses at punctuation.

``talk``/``chat`` tasks treat the text as a user message and speak a reply; the mock's reply is
deterministic (picked by a hash of the text) so tests can predict it.
"""

from __future__ import annotations

import hashlib
import re

from mockserver.config import SpeechSettings

_WORD = re.compile(r"\w+(?:['’-]\w+)*", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?。！？]+")
_COMMA = re.compile(r"[,;:，、；：]")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?。！？])\s+")

_REPLIES = (
    "Thanks for your question. Let me think about that for a moment.",
    "That is a great point, and I am happy to help with it.",
    "Here is what I can tell you: it depends on a few details, so let us go through them.",
    "I understand. Could you tell me a little more about what you need?",
    "Good question! The short answer is yes, and I can explain why.",
)


def reply_for(text: str) -> str:
    """The avatar's deterministic answer to a user message."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return _REPLIES[digest[0] % len(_REPLIES)]


def speaking_duration_ms(text: str, settings: SpeechSettings, rate: float = 1.0) -> float:
    """How long speaking ``text`` takes at ``rate`` (1.0 = the voice's normal speed)."""
    words = len(_WORD.findall(text))
    sentence_ends = len(_SENTENCE_END.findall(text.rstrip()))
    # The final sentence end is the end of speech, not a pause.
    if text.rstrip() and _SENTENCE_END.search(text.rstrip()[-1]):
        sentence_ends -= 1
    commas = len(_COMMA.findall(text))
    spoken = words * 60_000.0 / settings.words_per_minute
    pauses = commas * settings.comma_pause_ms + max(sentence_ends, 0) * settings.sentence_pause_ms
    return round(max((spoken + pauses) / rate, settings.min_duration_ms), 1)


def message_chunks(text: str) -> list[str]:
    """The pieces ``avatar_talking_message`` events carry: one per sentence, as the real service streams them."""
    return [part for part in _SENTENCE_SPLIT.split(text.strip()) if part] or [text]
