"""The service behind a test client, for what the HTTP surface does not show (sessions' events, the hub)."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from mockserver.api.common import SERVICE
from mockserver.service import MockService


def service_of(api: TestClient) -> MockService:
    app = api.app
    assert app is not None
    return app[SERVICE]
