"""Settings: defaults from the contract, files, environment, validation, masking, latency draws."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from pydantic import ValidationError

from mockserver.config import Delay, Settings, mask_secret


def test_defaults_follow_the_contract() -> None:
    s = Settings()
    assert (s.host, s.concurrency_limit, s.idle_timeout_default_s, s.session_duration_limit_s) == (
        "127.0.0.1",
        3,
        120,
        600,
    )
    assert (s.tiers["high"].width, s.tiers["high"].height, s.tiers["high"].bitrate_kbps) == (1920, 1080, 2000)
    assert s.latency_profile == "fast" and s.latency.for_endpoint("streaming.new").kind == "none"


def test_docs_tier_profile() -> None:
    assert Settings(tier_profile="docs").tiers["low"].height == 360


def test_file_then_env_then_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "mock.toml"
    toml.write_text('concurrency_limit = 7\nlatency_profile = "heygen"\n[speech]\nwords_per_minute = 90\n')
    assert Settings.load(toml).concurrency_limit == 7
    assert Settings.load(toml).speech.words_per_minute == 90
    monkeypatch.setenv("AVATAR_MOCK_CONCURRENCY_LIMIT", "9")
    assert Settings.load(toml).concurrency_limit == 9
    assert Settings.load(toml, concurrency_limit=11).concurrency_limit == 11
    as_json = tmp_path / "mock.json"
    as_json.write_text(json.dumps({"tier_profile": "docs"}))
    assert Settings.load(as_json).tier_profile == "docs"


def test_invalid_settings_are_refused() -> None:
    for bad in (
        {"tier_profile": "nope"},
        {"latency_profile": "nope"},
        {"api_keys": [" "]},
        {"concurrency_limit": 0},
        {"unknown": 1},
        {"tier_profiles": {"seed": {"low": {"width": 1, "height": 1, "bitrate_kbps": 1}}}},
    ):
        with pytest.raises(ValidationError):
            Settings(**bad)  # type: ignore[arg-type]


def test_public_dump_masks_keys() -> None:
    dumped = Settings(api_keys=["secret-key-123456"], concurrency_limits={"secret-key-123456": 5}).public_dump()
    assert "secret-key-123456" not in json.dumps(dumped)
    assert mask_secret("short") == "***"


def test_delay_draws() -> None:
    rng = random.Random(1)
    assert Delay().sample(rng) == 0
    assert Delay(kind="fixed", ms=250).sample(rng) == 0.25
    draws = [Delay(kind="uniform", low_ms=100, high_ms=300).sample(rng) for _ in range(200)]
    assert min(draws) >= 0.1 and max(draws) <= 0.3
    logn = sorted(Delay(kind="lognormal", median_ms=1500, sigma=0.3).sample(rng) for _ in range(2001))
    assert 1.3 < logn[1000] < 1.7
    assert Delay(kind="fixed", ms=1, tail_probability=1, tail_ms=60000).sample(rng) == 60
