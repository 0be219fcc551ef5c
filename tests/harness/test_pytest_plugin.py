"""The pytest plugin as a user meets it: fixtures in a fresh pytest run (pytester), real mode, isolation."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = """
import httpx
import pytest

from harness import errors


def test_sync_code_reaches_the_mock(heygen_mock):
    response = httpx.post(
        f"{heygen_mock.url}/v1/streaming.new", headers={"X-Api-Key": heygen_mock.api_key}, json={"quality": "low"}
    )
    assert response.status_code == 200
    assert response.json()["data"]["session_id"]
    assert heygen_mock.admin.stats()["sessions_live"] == 1


def test_state_was_reset_between_tests(heygen_mock):
    assert heygen_mock.admin.stats()["sessions_live"] == 0
    heygen_mock.admin.fail("streaming.new", 10007)
    heygen_mock.admin.update_settings(concurrency_limit=1)


async def test_faults_and_settings_were_reset_too(heygen_mock, streaming_client):
    assert heygen_mock.admin.settings()["concurrency_limit"] == 5
    data = await streaming_client.new_session()
    assert data.sdp is None  # media disabled by the conftest override
    await streaming_client.start(data.session_id)


async def test_the_client_gets_typed_errors(heygen_mock, streaming_client):
    heygen_mock.admin.fail("streaming.new", 10007)
    with pytest.raises(errors.ConcurrentLimitReached):
        await streaming_client.new_session()


async def test_sessions_left_open_are_stopped_by_the_client(heygen_mock, streaming_client):
    await streaming_client.new_session()
    assert streaming_client.open_sessions
"""

CONFTEST = """
import pytest

@pytest.fixture(scope="session")
def heygen_mock_settings():
    return {"concurrency_limit": 5, "media": {"enabled": False}}
"""

REAL_TESTS = """
def test_points_at_the_real_api(heygen_mock):
    assert heygen_mock.real and heygen_mock.url == "https://api.heygen.com"
    assert heygen_mock.api_key == "fake-key-for-the-plugin-test"
    assert "fake-key" not in repr(heygen_mock)
    heygen_mock.reset()  # nothing to reset on the real service


def test_admin_needs_the_mock(heygen_mock):
    heygen_mock.admin.stats()
"""


@pytest.fixture(autouse=True)
def ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")


def test_fixtures_in_a_users_test_run(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=5)


def test_real_mode_without_a_key_skips_clearly(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEYGEN_API_KEY", raising=False)
    pytester.makepyfile(test_real=REAL_TESTS)
    result = pytester.runpytest("--heygen-real", "-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*--heygen-real needs the HEYGEN_API_KEY environment variable*"])


def test_real_mode_targets_the_real_api(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEYGEN_API_KEY", "fake-key-for-the-plugin-test")
    monkeypatch.delenv("HEYGEN_BASE_URL", raising=False)
    pytester.makepyfile(test_real=REAL_TESTS)
    result = pytester.runpytest("--heygen-real", "-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*needs the mock's admin API*"])


def test_the_option_is_documented(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--heygen-real*"])
