"""Schemathesis against the mock's own ``/openapi.json``: every endpoint, valid and invalid inputs, no 5xx,
responses that conform to the documented schemas, and no state change on rejected calls."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from harness.server_thread import ServerThread
from mockserver.app import create_app
from mockserver.config import Settings

KEY = "schemathesis-key-000000"
#: Per endpoint and mode (13 x 2): 390 cases in CI; SCHEMATHESIS_EXAMPLES=300 (7,800 cases) for the nightly-sized run.
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "15"))
#: Schema-valid requests are still refused by rules no schema states (unknown session ids answer 10006, unknown
#: avatars 10012, both HTTP 400 by the contract), so "schema-valid means accepted" does not hold here.
BUSINESS_RULE_REJECTIONS = schemathesis.checks.positive_data_acceptance


#: A session may still end between two snapshots on its own, by one of its timers.
TIMER_REASONS = {"idle_timeout", "duration_limit"}


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    mock_settings = Settings(api_keys=[KEY], concurrency_limit=100_000, history_limit=1_000_000)
    server = ServerThread(lambda: create_app(mock_settings, media=False))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def admin(mock_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mock_url, timeout=30) as client:
        yield client


@pytest.mark.timeout(max(120, EXAMPLES * 6))  # the nightly size runs for minutes
def test_every_endpoint_conforms(mock_url: str, admin: httpx.Client) -> None:
    api_schema = schemathesis.openapi.from_url(f"{mock_url}/openapi.json")
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 13
    for operation in operations:
        # Valid and invalid inputs alike (schemathesis' negative mode breaks the schema on purpose).
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
            def conforms(case: schemathesis.Case) -> None:
                before = sessions(admin)
                response = case.call_and_validate(
                    base_url=mock_url, headers={"X-Api-Key": KEY}, excluded_checks=[BUSINESS_RULE_REJECTIONS]
                )
                if response.status_code >= 400:
                    assert_unchanged(before, sessions(admin), f"{case.method} {case.path} -> {response.status_code}")

            conforms()


def sessions(admin: httpx.Client) -> dict[str, tuple[str, str | None, int, bool]]:
    """Every session the mock knows (live and closed): status, close reason, queued tasks, talking."""
    views = admin.get("/__admin/sessions").json()["data"]["sessions"]
    return {v["session_id"]: (v["status"], v["close_reason"], v["queued_tasks"], v["talking"]) for v in views}


def assert_unchanged(before: dict[str, Any], after: dict[str, Any], call: str) -> None:
    """A rejected call creates, stops, queues and interrupts nothing (a session's own timers may still fire)."""
    assert after.keys() == before.keys(), f"{call} created or dropped sessions"
    for session_id, state in after.items():
        if state != before[session_id]:
            assert state[0] == "closed" and state[1] in TIMER_REASONS, f"{call} changed {session_id}: {state}"
