"""Canned, contract-valid answers for every REST endpoint, as respx routes: for unit tests of code that only
makes REST calls (through httpx) and should not need a running mock.

    def test_my_code(respx_mock):
        api = mock_streaming_api(respx_mock)
        ...  # code under test calls https://api.heygen.com/v1/streaming.*
        assert api.routes["streaming.new"].called
        api.fail("streaming.new", 10007)  # the next calls get the contract's error envelope

The fake keeps just enough state to be consistent (sessions created, stopped; single-use tokens); it
checks credentials are present but accepts any. Bodies are built from the ``avatar_contract`` models.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import respx

from avatar_contract.codes import ErrorCode
from avatar_contract.models import (
    AvatarInfo,
    CreateTokenData,
    NewSessionData,
    SessionHistoryPage,
    SessionListData,
    TaskData,
)

DEFAULT_BASE_URL = "https://api.heygen.com"
WORDS_PER_MINUTE = 150.0
_WORD = re.compile(r"\w+")

#: op -> (method, path)
ENDPOINTS: dict[str, tuple[str, str]] = {
    "streaming.create_token": ("POST", "/v1/streaming.create_token"),
    "streaming.new": ("POST", "/v1/streaming.new"),
    "streaming.start": ("POST", "/v1/streaming.start"),
    "streaming.ice": ("POST", "/v1/streaming.ice"),
    "streaming.task": ("POST", "/v1/streaming.task"),
    "streaming.interrupt": ("POST", "/v1/streaming.interrupt"),
    "streaming.keep_alive": ("POST", "/v1/streaming.keep_alive"),
    "streaming.stop": ("POST", "/v1/streaming.stop"),
    "streaming.start_listening": ("POST", "/v1/streaming.start_listening"),
    "streaming.stop_listening": ("POST", "/v1/streaming.stop_listening"),
    "streaming.list": ("GET", "/v1/streaming.list"),
    "streaming.list.v2": ("GET", "/v2/streaming.list"),
    "streaming.avatar.list": ("GET", "/v1/streaming/avatar.list"),
}

AVATARS = [
    AvatarInfo(
        avatar_id="default",
        created_at=1704067200,
        default_voice="1bd001e7e50f421d891986aad5158bc8",
        is_public=True,
        normal_preview="https://example.invalid/default.png",
        pose_name="Default Avatar",
        status="ACTIVE",
    ),
]


@dataclass(frozen=True, slots=True)
class _Call:
    request: httpx.Request
    body: dict[str, Any]
    token: str | None


class _Failure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CannedStreamingApi:
    """The routes (``.routes[op]``), the sessions they created, and switches for injected errors."""

    def __init__(self, router: respx.MockRouter, base_url: str = DEFAULT_BASE_URL) -> None:
        self.base_url = base_url.rstrip("/")
        self.sessions: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, str | None] = {}
        self._failures: dict[str, tuple[int, str]] = {}
        self._task_ids = itertools.count(1)
        handlers: dict[str, Callable[[_Call], Any]] = {
            "streaming.create_token": self._create_token,
            "streaming.new": self._new,
            "streaming.start": self._start,
            "streaming.ice": self._session_op,
            "streaming.task": self._task,
            "streaming.interrupt": self._session_op,
            "streaming.keep_alive": self._session_op,
            "streaming.stop": self._stop,
            "streaming.start_listening": self._session_op,
            "streaming.stop_listening": self._session_op,
            "streaming.list": self._list,
            "streaming.list.v2": self._history,
            "streaming.avatar.list": lambda _call: [a.model_dump() for a in AVATARS],
        }
        self.routes: dict[str, respx.Route] = {}
        for op, (method, path) in ENDPOINTS.items():
            route = router.route(method=method, url=self.base_url + path, name=op)
            route.side_effect = self._responder(op, handlers[op])
            self.routes[op] = route

    def fail(self, op: str, code: int | ErrorCode, message: str | None = None) -> None:
        """Answer every later call of ``op`` with the contract error ``code`` (until ``clear_failures``)."""
        if op not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {op!r}")
        code = ErrorCode(code)
        self._failures[op] = (code.value, message or code.name.lower().replace("_", " "))

    def clear_failures(self) -> None:
        self._failures.clear()

    # --- plumbing ---

    def _responder(self, op: str, handler: Callable[[_Call], Any]) -> Callable[[httpx.Request], httpx.Response]:
        def respond(request: httpx.Request) -> httpx.Response:
            try:
                if op in self._failures:
                    raise _Failure(*self._failures[op])
                data = handler(_Call(request, _json_body(request), self._authenticate(request, op)))
            except _Failure as failure:
                status = ErrorCode(failure.code).http_status
                payload = {"code": failure.code, "message": failure.message, "data": None, "error": failure.message}
                return httpx.Response(status, json=payload)
            if op == "streaming.create_token":
                return httpx.Response(200, json={"error": None, "data": data})
            return httpx.Response(200, json={"code": 100, "message": "success", "data": data, "error": None})

        return respond

    def _authenticate(self, request: httpx.Request, op: str) -> str | None:
        if request.headers.get("X-Api-Key", "").strip():
            return None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if op != "streaming.create_token" and scheme.lower() == "bearer" and token.strip() in self._tokens:
            return token.strip()
        raise _Failure(ErrorCode.UNAUTHORIZED, "unauthorized: missing or invalid credentials")

    def _session(self, body: dict[str, Any], live: bool = True) -> dict[str, Any]:
        session_id = body.get("session_id")
        if not isinstance(session_id, str) or not session_id:
            raise _Failure(ErrorCode.MISSING_PARAMETER, "missing required parameter: session_id")
        session = self.sessions.get(session_id)
        if session is None:
            raise _Failure(ErrorCode.SESSION_NOT_FOUND, "session not found")
        if live and session["status"] == "closed":
            raise _Failure(ErrorCode.STATE_CLOSED, "session is closed")
        return session

    # --- endpoints ---

    def _create_token(self, _call: _Call) -> dict[str, Any]:
        token = secrets.token_urlsafe(24)
        self._tokens[token] = None
        return CreateTokenData(token=token).model_dump()

    def _new(self, call: _Call) -> dict[str, Any]:
        token = call.token
        if token is not None and self._tokens[token] is not None:
            raise _Failure(ErrorCode.UNAUTHORIZED, "unauthorized: token already used")
        session_id = secrets.token_hex(16)
        if token is not None:
            self._tokens[token] = session_id
        self.sessions[session_id] = {
            "session_id": session_id,
            "status": "new",
            "created_at": int(time.time()),
            "request": call.body,
        }
        data = NewSessionData(
            session_id=session_id,
            access_token=secrets.token_urlsafe(24),
            url="wss://example.invalid/v1/ws",
            session_duration_limit=600,
            ice_servers=[],
            ice_servers2=[],
        )
        return data.model_dump(mode="json", exclude_none=True)

    def _start(self, call: _Call) -> None:
        session = self._session(call.body)
        if session["status"] != "new":
            raise _Failure(ErrorCode.STATE_CONNECTED, "session is connected: streaming.start not allowed")
        session["status"] = "connected"

    def _task(self, call: _Call) -> dict[str, Any]:
        self._session(call.body)
        text = call.body.get("text")
        if not isinstance(text, str):
            raise _Failure(ErrorCode.MISSING_PARAMETER, "missing required parameter: text")
        duration = max(len(_WORD.findall(text)) * 60_000 / WORDS_PER_MINUTE, 300.0)
        return TaskData(duration_ms=duration, task_id=f"task_{next(self._task_ids)}").model_dump()

    def _session_op(self, call: _Call) -> None:
        self._session(call.body)

    def _stop(self, call: _Call) -> None:
        self._session(call.body)["status"] = "closed"

    def _list(self, _call: _Call) -> dict[str, Any]:
        live = [
            {k: s[k] for k in ("session_id", "status", "created_at")}
            for s in self.sessions.values()
            if s["status"] != "closed"
        ]
        return SessionListData.model_validate({"sessions": live}).model_dump()

    def _history(self, call: _Call) -> dict[str, Any]:
        page = int(call.request.url.params.get("page", "1"))
        size = int(call.request.url.params.get("page_size", "20"))
        everything = list(reversed(self.sessions.values()))
        chunk = everything[(page - 1) * size : page * size]
        more = page * size < len(everything)
        return SessionHistoryPage.model_validate(
            {
                "total": len(everything),
                "page": page,
                "page_size": size,
                "next_pagination_token": str(page + 1) if more else None,
                "data": [
                    {
                        "session_id": s["session_id"],
                        "status": s["status"],
                        "created_at": s["created_at"],
                        "api_key_type": "api_key",
                        "duration": 0,
                        "avatar_id": "default",
                        "voice_name": "default",
                    }
                    for s in chunk
                ],
            }
        ).model_dump()


def _json_body(request: httpx.Request) -> dict[str, Any]:
    if request.method == "GET" or not request.content:
        return {}
    try:
        body = json.loads(request.content)
    except ValueError:
        raise _Failure(ErrorCode.INVALID_PARAMETER, "invalid parameter: body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _Failure(ErrorCode.INVALID_PARAMETER, "invalid parameter: body must be a JSON object")
    return body


def mock_streaming_api(router: respx.MockRouter, base_url: str = DEFAULT_BASE_URL) -> CannedStreamingApi:
    """Route the contract's REST calls under ``base_url`` on ``router`` (e.g. the ``respx_mock`` fixture)."""
    return CannedStreamingApi(router, base_url)
