"""One typed settings object for the mock: limits, timeouts, keys, tiers, speech and latency models.

Settings load from (lowest to highest precedence) defaults, a TOML/JSON file, ``AVATAR_MOCK_*`` environment
variables (nested with ``__``, e.g. ``AVATAR_MOCK_SPEECH__WORDS_PER_MINUTE=180``) and explicit overrides.
"""

from __future__ import annotations

import json
import math
import random
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Tier(BaseModel):
    """A quality tier's video format: what `quality: low|medium|high` means on the wire."""

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    bitrate_kbps: int = Field(gt=0)
    fps: int = Field(default=25, gt=0, le=60)


#: The seed document's table (default) and HeyGen's own docs' table.
TIER_PROFILES: dict[str, dict[str, Tier]] = {
    "seed": {
        "low": Tier(width=854, height=480, bitrate_kbps=500),
        "medium": Tier(width=1280, height=720, bitrate_kbps=1000),
        "high": Tier(width=1920, height=1080, bitrate_kbps=2000),
    },
    "docs": {
        "low": Tier(width=640, height=360, bitrate_kbps=500),
        "medium": Tier(width=854, height=480, bitrate_kbps=1000),
        "high": Tier(width=1280, height=720, bitrate_kbps=2000),
    },
}


class Delay(BaseModel):
    """A latency distribution in milliseconds; ``sample()`` draws seconds.

    ``kind``: none | fixed (``ms``) | uniform (``low_ms``..``high_ms``) | lognormal (``median_ms``, ``sigma``).
    With probability ``tail_probability`` the draw is replaced by ``tail_ms`` (the rare very slow call).
    """

    kind: Literal["none", "fixed", "uniform", "lognormal"] = "none"
    ms: float = Field(default=0.0, ge=0)
    low_ms: float = Field(default=0.0, ge=0)
    high_ms: float = Field(default=0.0, ge=0)
    median_ms: float = Field(default=0.0, ge=0)
    sigma: float = Field(default=0.5, ge=0, le=5)
    tail_probability: float = Field(default=0.0, ge=0, le=1)
    tail_ms: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _check_range(self) -> Delay:
        if self.kind == "uniform" and self.high_ms < self.low_ms:
            raise ValueError("high_ms must be >= low_ms")
        return self

    def sample(self, rng: random.Random) -> float:
        """One draw, in seconds."""
        if self.tail_probability and rng.random() < self.tail_probability:
            return self.tail_ms / 1000
        if self.kind == "fixed":
            ms = self.ms
        elif self.kind == "uniform":
            ms = rng.uniform(self.low_ms, self.high_ms)
        elif self.kind == "lognormal":
            ms = rng.lognormvariate(math.log(max(self.median_ms, 1e-3)), self.sigma)
        else:
            ms = 0.0
        return ms / 1000


class LatencyProfile(BaseModel):
    """Added latency: ``rest`` for every REST call, ``endpoints`` per op (replaces ``rest``), speech start."""

    rest: Delay = Delay()
    endpoints: dict[str, Delay] = {}
    speech_start: Delay = Delay()

    def for_endpoint(self, op: str) -> Delay:
        return self.endpoints.get(op, self.rest)


#: ``fast`` adds nothing (CI); ``heygen`` is modelled on what users report from the real service.
LATENCY_PROFILES: dict[str, LatencyProfile] = {
    "fast": LatencyProfile(),
    "heygen": LatencyProfile(
        rest=Delay(kind="uniform", low_ms=100, high_ms=300),
        endpoints={
            "streaming.new": Delay(kind="lognormal", median_ms=1500, sigma=0.35, tail_probability=0.005, tail_ms=60000),
        },
        speech_start=Delay(kind="lognormal", median_ms=2500, sigma=0.15),
    ),
}


class SpeechSettings(BaseModel):
    """Text -> speaking duration: words per minute plus pauses at punctuation."""

    words_per_minute: float = Field(default=150.0, gt=0, le=1000)
    comma_pause_ms: float = Field(default=250.0, ge=0)
    sentence_pause_ms: float = Field(default=500.0, ge=0)
    min_duration_ms: float = Field(default=300.0, ge=0)
    max_text_chars: int = Field(default=1000, gt=0)


class MediaSettings(BaseModel):
    """The WebRTC media plane."""

    enabled: bool = True
    workers: int = Field(default=1, ge=1, le=64)
    clip_seconds: float = Field(default=2.0, gt=0, le=30)
    cache_dir: Path | None = None
    ice_connect_timeout_s: float = Field(default=30.0, gt=0)
    keyframe_interval_s: float = Field(
        default=1.0, gt=0, le=10, description="Keyframe spacing in the clips; idle<->talking switches wait for one."
    )
    peer_silence_timeout_s: float = Field(
        default=30.0, gt=0, description="A connected client unheard (no STUN, RTCP, DTLS) this long has failed."
    )
    stun_port: int = Field(default=0, ge=0, le=65535, description="Loopback STUN responder port; 0 picks one.")


class NetworkConditions(BaseModel):
    """How bad the network between the mock and one client is, applied to everything the mock sends.

    Defined here rather than in ``mockserver.media.impairments`` (which re-exports it) so settings can hold a
    table of named profiles without importing the media plane. All defaults mean "no impairment".
    """

    model_config = ConfigDict(extra="forbid")

    profile: str | None = Field(default=None, description="The named profile these came from (a label only).")
    loss_percent: float = Field(default=0.0, ge=0, le=100, description="Datagrams lost on the wire, on average.")
    burst_length: float = Field(
        default=1.0, ge=1, le=100, description="Mean run of consecutive losses (Gilbert model); 1 = independent."
    )
    delay_ms: float = Field(default=0.0, ge=0, le=10_000, description="One-way delay added to every datagram.")
    jitter_ms: float = Field(
        default=0.0, ge=0, le=5_000, description="Standard deviation of the delay (it wanders; order is kept)."
    )
    bandwidth_kbps: float | None = Field(
        default=None, gt=0, le=10_000_000, description="Bottleneck rate (kbit/s); None = no cap."
    )
    queue_ms: float = Field(
        default=250.0, ge=0, le=10_000, description="Bottleneck queue: datagrams that would wait longer are dropped."
    )
    outage_s: float = Field(
        default=0.0, ge=0, le=3600, description="Length of a full outage (nothing sent or heard); 0 = none."
    )
    outage_start_s: float = Field(
        default=0.0,
        ge=0,
        le=3600,
        description="Seconds from when the conditions apply (or the peer connects, if later) to the outage.",
    )

    @model_validator(mode="after")
    def _burst_fits_loss(self) -> NetworkConditions:
        if self.burst_length > 1 and 0 < self.loss_percent < 100:
            loss = self.loss_percent / 100
            if loss / (self.burst_length * (1 - loss)) > 1:
                raise ValueError("burst_length too short for this loss_percent (need loss/(1-loss) <= burst_length)")
        return self

    @property
    def impairs(self) -> bool:
        """False when these conditions change nothing (the send path then skips them)."""
        return bool(
            self.loss_percent or self.delay_ms or self.jitter_ms or self.bandwidth_kbps is not None or self.outage_s
        )


#: Named network profiles (users add their own under ``network_profiles`` in the settings file).
NETWORK_PROFILES: dict[str, NetworkConditions] = {
    "none": NetworkConditions(),
    "good-wifi": NetworkConditions(bandwidth_kbps=30_000, delay_ms=10, jitter_ms=3, loss_percent=0.1),
    "regular-4g": NetworkConditions(bandwidth_kbps=4_000, delay_ms=60, jitter_ms=15, loss_percent=0.5),
    "poor-4g": NetworkConditions(bandwidth_kbps=1_000, delay_ms=150, jitter_ms=40, loss_percent=3, burst_length=2),
    "regular-3g": NetworkConditions(bandwidth_kbps=750, delay_ms=250, jitter_ms=10, loss_percent=1.5),
    "lossy": NetworkConditions(loss_percent=10),
    "call-drop": NetworkConditions(bandwidth_kbps=50, delay_ms=500, loss_percent=20, burst_length=3),
    "outage": NetworkConditions(outage_start_s=5, outage_s=10),
}


class TlsSettings(BaseModel):
    """HTTPS/WSS. The official SDK builds ``wss://<hostname>/v1/ws/...`` without the port, so browser clients
    need the mock on TLS (port 443, or mapped there). Without ``cert_file``/``key_file`` a certificate for
    127.0.0.1/localhost is generated (with its own CA, ``ca.pem``, next to it) in ``dir``."""

    enabled: bool = False
    cert_file: Path | None = None
    key_file: Path | None = None
    dir: Path | None = Field(default=None, description="Where the generated certificate goes (default: user cache).")

    @model_validator(mode="after")
    def _cert_and_key(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("tls: cert_file and key_file go together")
        return self


class Settings(BaseSettings):
    """Everything the mock can be told. Change at start-up (file/env/CLI) or live via ``PUT /__admin/settings``."""

    model_config = SettingsConfigDict(
        env_prefix="AVATAR_MOCK_", env_nested_delimiter="__", extra="forbid", validate_assignment=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = None
    api_keys: list[str] = Field(default_factory=list, description="Accepted keys; empty accepts any key.")
    concurrency_limit: int = Field(default=3, ge=1)
    concurrency_limits: dict[str, int] = Field(default_factory=dict, description="Per-key overrides.")
    session_duration_limit_s: float = Field(default=600.0, gt=0)
    idle_timeout_default_s: int = Field(default=120, ge=30, le=3600)
    token_ttl_s: float = Field(default=3600.0, gt=0)
    history_limit: int = Field(default=1000, ge=0, description="Closed sessions kept for state errors and history.")
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    body_read_timeout_s: float = Field(default=10.0, gt=0, description="A client this slow to send its body gets 408.")
    connection_idle_timeout_s: float = Field(
        default=75.0,
        gt=0,
        description="A connection with no request in progress closes after this long. From the connection's start"
        " it also bounds a client that never finishes its request headers (slow-loris).",
    )
    cors_origins: list[str] = Field(default_factory=lambda: ["*"])
    admin_enabled: bool | None = Field(default=None, description="None: on when bound to loopback.")
    rate_limit_per_s: float | None = Field(default=None, gt=0)
    tier_profile: str = "seed"
    tier_profiles: dict[str, dict[str, Tier]] = Field(default_factory=lambda: dict(TIER_PROFILES))
    latency_profile: str = "fast"
    latency_profiles: dict[str, LatencyProfile] = Field(default_factory=lambda: dict(LATENCY_PROFILES))
    network_profiles: dict[str, NetworkConditions] = Field(
        default_factory=lambda: dict(NETWORK_PROFILES),
        description="Named network conditions for PUT /__admin/network and harness --network-profile.",
    )
    speech: SpeechSettings = SpeechSettings()
    media: MediaSettings = MediaSettings()
    tls: TlsSettings = TlsSettings()
    seed: int | None = Field(default=None, description="Random seed for latency draws and ids.")

    @field_validator("api_keys")
    @classmethod
    def _keys_not_blank(cls, keys: list[str]) -> list[str]:
        if any(not k.strip() for k in keys):
            raise ValueError("api keys must not be blank")
        return keys

    @field_validator("network_profiles")
    @classmethod
    def _network_profiles_extend_the_builtins(
        cls, profiles: dict[str, NetworkConditions]
    ) -> dict[str, NetworkConditions]:
        """A settings file or patch adds profiles (or redefines one); the built-in ones stay."""
        return {**NETWORK_PROFILES, **profiles}

    @model_validator(mode="after")
    def _profiles_exist(self) -> Settings:
        if self.tier_profile not in self.tier_profiles:
            raise ValueError(f"unknown tier_profile {self.tier_profile!r}")
        if set(self.tier_profiles[self.tier_profile]) != {"low", "medium", "high"}:
            raise ValueError("a tier profile needs exactly low, medium and high")
        if self.latency_profile not in self.latency_profiles:
            raise ValueError(f"unknown latency_profile {self.latency_profile!r}")
        return self

    @property
    def tiers(self) -> dict[str, Tier]:
        return self.tier_profiles[self.tier_profile]

    @property
    def latency(self) -> LatencyProfile:
        return self.latency_profiles[self.latency_profile]

    @property
    def admin_active(self) -> bool:
        return is_loopback(self.host) if self.admin_enabled is None else self.admin_enabled

    def limit_for(self, api_key: str) -> int:
        return self.concurrency_limits.get(api_key, self.concurrency_limit)

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> Settings:
        """Defaults < file (TOML or JSON) < environment < ``overrides``."""
        data: dict[str, Any] = {}
        if path is not None:
            p = Path(path)
            text = p.read_text(encoding="utf-8")
            data = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
        # Environment beats file: pydantic-settings puts init kwargs first, so merge the env in by hand.
        env_only = cls()
        env_set = {k: getattr(env_only, k) for k in env_only.model_fields_set}
        return cls(**{**data, **env_set, **overrides})

    def public_dump(self) -> dict[str, Any]:
        """Settings as JSON, with the accepted keys masked (secrets never leave the process)."""
        dumped = self.model_dump(mode="json")
        dumped["api_keys"] = [mask_secret(k) for k in self.api_keys]
        dumped["concurrency_limits"] = {mask_secret(k): v for k, v in self.concurrency_limits.items()}
        return dumped


def is_loopback(host: str) -> bool:
    return host in {"localhost", "::1"} or host.startswith("127.")


def mask_secret(secret: str) -> str:
    """A recognisable but useless stand-in for a key or token in logs, errors and reports."""
    return f"***{secret[-4:]}" if len(secret) >= 12 else "***"
