"""The harness tests run against the plugin's own ``heygen_mock`` fixture, with speech sped up."""

from __future__ import annotations

from typing import Any

import pytest

#: Fast speech keeps media tests short: a ten-word sentence takes about a second.
FAST_SPEECH = {"words_per_minute": 600.0, "comma_pause_ms": 100.0, "sentence_pause_ms": 150.0}


@pytest.fixture(scope="session")
def heygen_mock_settings() -> dict[str, Any]:
    return {"speech": FAST_SPEECH, "seed": 7}
