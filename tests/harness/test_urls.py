"""The loopback check every tool makes before it sends traffic."""

from __future__ import annotations

from harness.urls import is_loopback_url


def test_loopback_detection() -> None:
    assert is_loopback_url("http://127.0.0.1:8080")
    assert is_loopback_url("http://localhost:8080/")
    assert is_loopback_url("http://[::1]:8080")
    assert not is_loopback_url("https://api.heygen.com")
    assert not is_loopback_url("http://192.0.2.10:8080")
