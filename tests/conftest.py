"""Shared fixtures: a control-plane-only mock on a fake clock, and an aiohttp test client against it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from mockserver.app import create_app
from mockserver.clock import FakeClock
from mockserver.config import Settings

KEY = "test-key-0123456789"
OTHER_KEY = "other-key-9876543210"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> Settings:
    return Settings(seed=1)


@pytest.fixture
async def api(settings: Settings, clock: FakeClock) -> AsyncIterator[TestClient]:
    """The mock without media, on a fake clock: time only moves when a test advances it."""
    client = TestClient(TestServer(create_app(settings, clock=clock, media=False)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
