"""pytest fixtures for testing streaming-avatar clients against the mock (or, opt-in, the real service).

Registered as the ``heygen_mock`` pytest11 entry point, so installing the testkit is enough:

- ``heygen_mock``: the mock on a free 127.0.0.1 port, one per test session, running on its own thread and
  event loop (sync tests with any HTTP client work as well as async ones). ``.url``, ``.api_key``,
  ``.admin`` (settings, limits, faults, kills, events, stats) and ``.reset()``; reset after every test.
- ``streaming_client``: a ``harness.StreamingClient`` bound to it (async; needs pytest-asyncio).
- ``heygen_mock_settings``: override in your conftest.py to start the mock with other settings.
- ``--network-profile NAME`` (or parametrize/override the ``heygen_network_profile`` fixture): sessions of
  ``streaming_client`` run on that network profile of the mock (docs/network-conditions.md).
- ``--heygen-real``: the same fixtures target the real API (``HEYGEN_API_KEY``; ``HEYGEN_BASE_URL`` to
  override the URL); tests that need the admin API are skipped.

This is the one harness module that imports ``mockserver``, and only when a fixture starts the mock; heavy
imports wait until a fixture is used, since pytest loads this plugin in every run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

try:
    from pytest_asyncio import fixture as async_fixture
except ImportError:  # pragma: no cover - without pytest-asyncio, async tests cannot use the client anyway
    async_fixture = pytest.fixture  # type: ignore[assignment]

from harness.admin import MockAdmin

if TYPE_CHECKING:
    from harness.client import StreamingClient
    from harness.server_thread import ServerThread

REAL_URL = "https://api.heygen.com"
MOCK_API_KEY = "heygen-mock-test-key"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("heygen_mock", "streaming avatar mock")
    group.addoption(
        "--heygen-real",
        action="store_true",
        default=False,
        help="point the heygen_mock/streaming_client fixtures at the real API (needs HEYGEN_API_KEY)",
    )
    group.addoption(
        "--network-profile",
        default=None,
        help="run streaming_client's sessions on this network profile of the mock (e.g. regular-3g)",
    )


class HeygenTarget:
    """What the fixtures point at: the in-process mock, or the real API with ``--heygen-real``."""

    def __init__(
        self,
        url: str,
        api_key: str,
        real: bool,
        server: ServerThread | None = None,
        initial_settings: dict[str, Any] | None = None,
    ) -> None:
        self.url = url
        self.api_key = api_key
        self.real = real
        self.server = server
        self._initial = initial_settings
        self._admin = None if real else MockAdmin(url)

    def __repr__(self) -> str:
        return f"HeygenTarget(url={self.url!r}, real={self.real})"

    @property
    def admin(self) -> MockAdmin:
        """The mock's admin API; a test that needs it is skipped against the real service."""
        if self._admin is None:
            pytest.skip("needs the mock's admin API (not available with --heygen-real)")
        return self._admin

    def client(self, **kwargs: Any) -> StreamingClient:
        """A new ``StreamingClient`` for this target (use it with ``async with``)."""
        from harness.client import StreamingClient

        return StreamingClient(self.url, self.api_key, **kwargs)

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()

    def reset(self) -> None:
        """Back to how the mock started: no sessions, no faults, the initial settings. No-op for real."""
        if self._admin is None:
            return
        self._admin.reset()
        self._admin.clear_network()
        if self._initial is not None:
            self._admin.restore_settings(self._initial)


@pytest.fixture(scope="session")
def heygen_mock_settings() -> dict[str, Any]:
    """Settings overrides for the session's mock (``mockserver.config.Settings`` fields). Override to change."""
    return {}


@pytest.fixture(scope="session")
def _heygen_target(request: pytest.FixtureRequest, heygen_mock_settings: dict[str, Any]) -> Iterator[HeygenTarget]:
    if request.config.getoption("--heygen-real"):
        key = os.environ.get("HEYGEN_API_KEY", "").strip()
        if not key:
            pytest.skip("--heygen-real needs the HEYGEN_API_KEY environment variable")
        yield HeygenTarget(os.environ.get("HEYGEN_BASE_URL", REAL_URL), key, real=True)
        return
    from harness.server_thread import ServerThread
    from mockserver.app import create_app
    from mockserver.config import Settings

    settings = Settings(**{"host": "127.0.0.1", "port": 0, **heygen_mock_settings})
    server = ServerThread(
        lambda: create_app(settings),
        host=settings.host,
        runner_options={"keepalive_timeout": settings.connection_idle_timeout_s},
    )
    url = server.start()
    initial = settings.model_dump(mode="json")
    target = HeygenTarget(url, MOCK_API_KEY, real=False, server=server, initial_settings=initial)
    try:
        yield target
    finally:
        target.close()
        server.stop()


@pytest.fixture
def heygen_mock(_heygen_target: HeygenTarget) -> Iterator[HeygenTarget]:
    """The mock (one per test session), reset after each test so tests cannot leak state into each other."""
    yield _heygen_target
    _heygen_target.reset()


@pytest.fixture
def heygen_network_profile(request: pytest.FixtureRequest) -> str | None:
    """The network profile ``streaming_client``'s sessions run on (``--network-profile``; None: unimpaired).
    Parametrize it to run a test on several: ``@pytest.mark.parametrize("heygen_network_profile", [...])``."""
    profile: str | None = request.config.getoption("--network-profile")
    return profile


@async_fixture
async def streaming_client(
    heygen_mock: HeygenTarget, heygen_network_profile: str | None
) -> AsyncIterator[StreamingClient]:
    """A ``StreamingClient`` for the target (async tests; needs pytest-asyncio). Closing it stops any session
    the test left open."""
    if heygen_network_profile is not None and heygen_mock.real:
        pytest.skip("network profiles need the mock's admin API (not available with --heygen-real)")
    async with heygen_mock.client(network_profile=heygen_network_profile) as client:
        yield client
