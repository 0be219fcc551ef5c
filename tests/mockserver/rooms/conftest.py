"""The service behind the ``api`` test client (rooms, registry, hub), for checks the HTTP surface does not show."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from mockserver.api.common import SERVICE
from mockserver.service import MockService


@pytest.fixture
def service(api: TestClient) -> MockService:
    app = api.app
    assert app is not None
    return app[SERVICE]
