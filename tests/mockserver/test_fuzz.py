"""Hypothesis: hostile input never yields a 5xx or a non-contract body, and never changes another session;
a stateful model of the session lifecycle agrees with the mock after any sequence of calls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from mockserver.app import create_app
from mockserver.clock import FakeClock
from mockserver.config import Settings

KEYS = ["fuzz-key-aaaaaaaaaaaa", "fuzz-key-bbbbbbbbbbbb"]
OPS = [
    "new",
    "start",
    "ice",
    "task",
    "interrupt",
    "keep_alive",
    "stop",
    "start_listening",
    "stop_listening",
    "create_token",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "session_id",
        "text",
        "task_type",
        "task_mode",
        "quality",
        "video_encoding",
        "version",
        "voice",
        "sdp",
        "candidate",
        "activity_idle_timeout",
        "disable_idle_timeout",
        "avatar_id",
        "avatar_name",
        "voice_id",
    ]
)
bodies = st.one_of(
    st.dictionaries(field_names, json_values, max_size=6),
    json_values,
    st.binary(max_size=64),
)


class Harness:
    """One mock on its own loop, reused across hypothesis examples (a server per example is too slow)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()

        async def make_client() -> TestClient:
            client = TestClient(TestServer(create_app(Settings(seed=3), clock=self.clock, media=False)))
            await client.start_server()
            return client

        self.client: TestClient = self.run(make_client())

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def post(self, op: str, body: Any, key: str | None) -> tuple[int, Any]:
        headers = {"X-Api-Key": key} if key else {}
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = await self.client.post(f"/v1/streaming.{op}", data=data, headers=headers)
        return response.status, await response.json()

    async def admin(self, method: str, path: str) -> Any:
        response = await self.client.request(method, f"/__admin/{path}")
        return (await response.json())["data"]

    def close(self) -> None:
        self.run(self.client.close())
        self.loop.close()


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.close()


def assert_contract_shaped(status: int, body: Any) -> None:
    assert status < 500, body
    assert isinstance(body, dict) and "data" in body
    if status == 200:
        assert body.get("error") is None
    else:
        assert set(body) >= {"code", "message", "data"}
        assert body["data"] is None and isinstance(body["code"], int) and body["message"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(op=st.sampled_from(OPS), body=bodies, key=st.sampled_from([*KEYS, None]))
def test_hostile_bodies_get_contract_errors(harness: Harness, op: str, body: Any, key: str | None) -> None:
    # A live session of the other key must survive whatever this call does.
    async def scenario() -> None:
        status, created = await harness.post("new", {}, KEYS[1])
        if status != 200:  # the other key is at its limit from earlier examples: free it
            await harness.admin("POST", "reset")
            status, created = await harness.post("new", {}, KEYS[1])
        witness = created["data"]["session_id"]
        if isinstance(body, dict) and "session_id" in body and op != "new":
            body["session_id"] = witness  # aim squarely at the other key's session
        status, payload = await harness.post(op, body, KEYS[0] if key == KEYS[1] else key)
        assert_contract_shaped(status, payload)
        detail = await harness.admin("GET", f"sessions/{witness}")
        assert detail["status"] == "new" and detail["queued_tasks"] == 0 and not detail["talking"]
        await harness.post("stop", {"session_id": witness}, KEYS[1])

    harness.run(scenario())


class SessionLifecycle(RuleBasedStateMachine):
    """The model: which sessions each key has and in what state; the mock must agree at every step."""

    sessions = Bundle("sessions")

    def __init__(self) -> None:
        super().__init__()
        self.h = Harness()
        self.state: dict[str, str] = {}
        self.owner: dict[str, str] = {}

    def teardown(self) -> None:
        self.h.close()

    def live(self, key: str) -> int:
        return sum(1 for s, st_ in self.state.items() if self.owner[s] == key and st_ != "closed")

    @rule(target=sessions, key=st.sampled_from(KEYS))
    def new(self, key: str) -> str:
        status, body = self.h.run(self.h.post("new", {"disable_idle_timeout": False}, key))
        if self.live(key) >= 3:
            assert body["code"] == 10007
            return "missing"
        assert status == 200, body
        sid = body["data"]["session_id"]
        self.state[sid], self.owner[sid] = "new", key
        return str(sid)

    @rule(sid=sessions, key=st.sampled_from(KEYS))
    def start(self, sid: str, key: str) -> None:
        status, body = self.h.run(self.h.post("start", {"session_id": sid}, key))
        if self.owner.get(sid) != key:
            assert body["code"] == 10006
        elif self.state[sid] == "new":
            assert status == 200
            self.state[sid] = "connected"
        else:
            assert body["code"] == {"connected": 10003, "closed": 10005}[self.state[sid]]

    @rule(sid=sessions, mode=st.sampled_from(["async"]))
    def task(self, sid: str, mode: str) -> None:
        key = self.owner.get(sid, KEYS[0])
        _, body = self.h.run(self.h.post("task", {"session_id": sid, "text": "Hi.", "task_mode": mode}, key))
        expected = {"new": 10001, "connected": 100, "closed": 10005}.get(self.state.get(sid, ""), 10006)
        assert body["code"] == expected, body

    @rule(sid=sessions)
    def stop(self, sid: str) -> None:
        key = self.owner.get(sid, KEYS[0])
        status, body = self.h.run(self.h.post("stop", {"session_id": sid}, key))
        if sid not in self.state:
            assert body["code"] == 10006
        elif self.state[sid] == "closed":
            assert body["code"] == 10005
        else:
            assert status == 200
            self.state[sid] = "closed"

    @rule(seconds=st.sampled_from([1.0, 60.0, 125.0]))
    def advance(self, seconds: float) -> None:
        self.h.run(self.h.clock.advance(seconds))
        # Sessions past their idle timeout close; the model asks the mock which ones and checks they were due.
        for sid in list(self.state):
            detail = self.h.run(self.h.admin("GET", f"sessions/{sid}"))
            if detail["status"] == "closed" and self.state[sid] != "closed":
                assert detail["close_reason"] in {"idle_timeout", "duration_limit"}
                self.state[sid] = "closed"

    @invariant()
    def every_session_is_listed_or_closed(self) -> None:
        for key in KEYS:
            listed = self.h.run(self.h.client.get("/v1/streaming.list", headers={"X-Api-Key": key}))
            ids = {s["session_id"] for s in self.h.run(listed.json())["data"]["sessions"]}
            expected = {s for s, st_ in self.state.items() if self.owner[s] == key and st_ != "closed"}
            assert ids == expected

    @invariant()
    def no_timers_outlive_sessions(self) -> None:
        stats = self.h.run(self.h.admin("GET", "stats"))
        live = sum(1 for st_ in self.state.values() if st_ != "closed")
        assert stats["sessions_live"] == live
        if live == 0:
            assert stats["session_timers"] == 0


TestSessionLifecycle = SessionLifecycle.TestCase
TestSessionLifecycle.settings = settings(max_examples=25, stateful_step_count=20, deadline=None)
