"""The target guard: what a load run may reach, with which key (pure functions: no locust, no subprocess)."""

from __future__ import annotations

import pytest

from loadtests._target import REAL_SERVICE_URL, TargetRefused, check_host, is_loopback_url, resolve


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://127.5.6.7", True),
        ("http://localhost:1234/x", True),
        ("http://[::1]:8080", True),
        ("https://api.heygen.com", False),
        ("http://10.0.0.1:8080", False),
        ("http://127.0.0.1.example.com", False),
        ("http://localhost.example.com", False),
    ],
)
def test_loopback(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_off_machine_hosts_need_the_real_flag() -> None:
    with pytest.raises(TargetRefused, match="--heygen-real") as refused:
        check_host("https://api.heygen.com", real=False)
    assert refused.value.code == 2
    check_host("https://api.heygen.com", real=True)


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "ftp://127.0.0.1", "http://"])
def test_malformed_hosts_are_refused(host: str) -> None:
    with pytest.raises(TargetRefused, match="http"):
        check_host(host, real=True)


def test_no_host_means_the_embedded_mock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEYGEN_API_KEY", raising=False)
    assert resolve(None, real=False, max_sessions=3) is None


def test_a_mock_host_gets_the_env_key_or_a_generated_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEYGEN_API_KEY", raising=False)
    target = resolve("http://127.0.0.1:9/", real=False, max_sessions=3)
    assert target is not None and target.kind == "mock" and target.host == "http://127.0.0.1:9"
    assert target.api_key.startswith("loadtest-") and target.max_sessions is None
    from_master = resolve("http://127.0.0.1:9", False, 3, generated_key="from-master")
    assert from_master is not None and from_master.api_key == "from-master"
    monkeypatch.setenv("HEYGEN_API_KEY", "env-key")
    from_env = resolve("http://127.0.0.1:9", False, 3, generated_key="from-master")
    assert from_env is not None and from_env.api_key == "env-key"


def test_the_real_service_needs_the_key_and_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEYGEN_API_KEY", raising=False)
    with pytest.raises(TargetRefused, match="HEYGEN_API_KEY"):
        resolve(None, real=True, max_sessions=3)
    monkeypatch.setenv("HEYGEN_API_KEY", "real-key")
    target = resolve(None, real=True, max_sessions=3)
    assert target is not None
    assert (target.kind, target.host, target.api_key, target.max_sessions) == ("real", REAL_SERVICE_URL, "real-key", 3)
    with pytest.raises(TargetRefused, match="at least 1"):
        resolve(None, real=True, max_sessions=0)
