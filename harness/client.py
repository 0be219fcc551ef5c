"""``StreamingClient``: one method per REST endpoint of the streaming API, typed errors, a sample per call.

Responses are parsed with the shared ``avatar_contract`` models, so a mock or service that drifts from the
contract fails loudly here. Requests are sent as given (not validated), so tests can provoke the server's
own validation errors. The HTTP transport is injectable (``httpx.MockTransport``, respx) for socket-free tests.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from avatar_contract.models import (
    AvatarInfo,
    CreateTokenData,
    IceCandidate,
    NewSessionData,
    SessionDescription,
    SessionHistoryPage,
    SessionListData,
    StartData,
    TaskData,
)
from harness.errors import (
    RequestTimeout,
    ServerError,
    SessionNotFound,
    SessionStateError,
    StreamingError,
    TransportError,
    error_for,
    scrub,
)
from harness.metrics import SampleSink

if TYPE_CHECKING:
    from harness.media import ReceiveMode
    from harness.session import Flow, Session

M = TypeVar("M", bound=BaseModel)

SUCCESS = 100
#: Sessions whose tier/codec labels a client remembers (the open ones always, then the most recent).
MAX_LABELLED_SESSIONS = 1024
_AVATARS = TypeAdapter(list[AvatarInfo])


class NullSink:
    """The sink of a client nobody measures."""

    def record(
        self, metric: str, value: float | None, unit: str, ok: bool = True, error: str | None = None, **labels: Any
    ) -> None:
        return None


class StreamingClient:
    """REST client for ``/v1/streaming.*``; use as ``async with`` so the connection pool is closed.

    Auth is ``X-Api-Key`` when ``api_key`` is given, else ``Authorization: Bearer <token>``. Sessions this
    client created and did not stop are stopped when it closes: nothing is left running (and billed).
    ``network_profile`` (mock targets): the mock impairs the network of every session this client opens with
    that profile, and every sample is labelled with it (docs/network-conditions.md).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        token: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        sink: SampleSink | None = None,
        labels: dict[str, Any] | None = None,
        network_profile: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.sink: SampleSink = sink if sink is not None else NullSink()
        self.labels: dict[str, Any] = dict(labels or {})
        self.network_profile = network_profile
        if network_profile is not None:
            self.labels["network_profile"] = network_profile
        self._secrets = [s for s in (api_key, token) if s]
        headers = {"Accept": "application/json"}
        if api_key:
            headers["X-Api-Key"] = api_key
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, transport=transport, timeout=httpx.Timeout(timeout)
        )
        self._session_labels: dict[str, dict[str, Any]] = {}
        self._open: set[str] = set()

    def __repr__(self) -> str:
        auth = "api_key" if "X-Api-Key" in self._http.headers else "token" if self._secrets else "none"
        return f"StreamingClient(base_url={self.base_url!r}, auth={auth})"

    async def __aenter__(self) -> StreamingClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the sessions still open (best effort), then close the connection pool."""
        for session_id in list(self._open):
            with contextlib.suppress(StreamingError):
                await self.stop(session_id)
        await self._http.aclose()

    @property
    def open_sessions(self) -> frozenset[str]:
        """Sessions this client created and has not stopped (nor seen closed)."""
        return frozenset(self._open)

    # --- endpoints ---

    async def create_token(self) -> CreateTokenData:
        data = await self._call("streaming.create_token", "POST", "/v1/streaming.create_token", {})
        return _parse(CreateTokenData, data)

    async def new_session(self, **fields: Any) -> NewSessionData:
        """``streaming.new`` with the given request fields (sent as is; the server validates)."""
        quality, encoding = fields.get("quality", "low"), fields.get("video_encoding", "VP8")
        labels: dict[str, Any] = {
            "tier": quality.lower() if isinstance(quality, str) else None,
            "codec": encoding.upper() if isinstance(encoding, str) else None,
        }
        data = _parse(
            NewSessionData, await self._call("streaming.new", "POST", "/v1/streaming.new", fields, labels=labels)
        )
        self._session_labels[data.session_id] = labels
        if len(self._session_labels) > MAX_LABELLED_SESSIONS:  # a long-lived client: forget the oldest closed
            stale = next((sid for sid in self._session_labels if sid not in self._open), None)
            if stale is not None:
                del self._session_labels[stale]
        self._open.add(data.session_id)
        return data

    async def start(self, session_id: str, sdp: SessionDescription | dict[str, Any] | None = None) -> StartData:
        body: dict[str, Any] = {"session_id": session_id}
        if sdp is not None:
            body["sdp"] = sdp.model_dump() if isinstance(sdp, SessionDescription) else sdp
        data = await self._call("streaming.start", "POST", "/v1/streaming.start", body, session_id)
        return _parse(StartData, data if data is not None else {})

    async def ice(self, session_id: str, candidate: IceCandidate | dict[str, Any]) -> None:
        body = {
            "session_id": session_id,
            "candidate": candidate.model_dump() if isinstance(candidate, IceCandidate) else candidate,
        }
        await self._call("streaming.ice", "POST", "/v1/streaming.ice", body, session_id)

    async def task(
        self,
        session_id: str,
        text: str,
        task_type: Literal["repeat", "talk", "chat"] | str = "repeat",
        task_mode: Literal["sync", "async"] | str = "async",
    ) -> TaskData:
        body = {"session_id": session_id, "text": text, "task_type": task_type, "task_mode": task_mode}
        return _parse(TaskData, await self._call("streaming.task", "POST", "/v1/streaming.task", body, session_id))

    async def interrupt(self, session_id: str) -> None:
        await self._session_op("streaming.interrupt", session_id)

    async def keep_alive(self, session_id: str) -> None:
        await self._session_op("streaming.keep_alive", session_id)

    async def stop(self, session_id: str) -> None:
        """Stop a session; it no longer counts as open once the server has answered (success or error)."""
        try:
            await self._session_op("streaming.stop", session_id)
        except (SessionStateError, SessionNotFound):
            self._open.discard(session_id)
            raise
        self._open.discard(session_id)

    async def start_listening(self, session_id: str) -> None:
        await self._session_op("streaming.start_listening", session_id)

    async def stop_listening(self, session_id: str) -> None:
        await self._session_op("streaming.stop_listening", session_id)

    async def list_sessions(self) -> SessionListData:
        return _parse(SessionListData, await self._call("streaming.list", "GET", "/v1/streaming.list"))

    async def history(self, page: int = 1, page_size: int = 20) -> SessionHistoryPage:
        params = {"page": page, "page_size": page_size}
        data = await self._call("streaming.list.v2", "GET", "/v2/streaming.list", params=params)
        return _parse(SessionHistoryPage, data)

    async def avatars(self) -> list[AvatarInfo]:
        data = await self._call("streaming.avatar.list", "GET", "/v1/streaming/avatar.list")
        try:
            return _AVATARS.validate_python(data)
        except ValidationError as exc:
            raise ServerError(f"response does not follow the contract: {_first_error(exc)}") from None

    def session(
        self,
        quality: str = "low",
        video_encoding: str = "VP8",
        flow: Flow = "v1",
        receive: ReceiveMode | None = "count",
        keep_alive_interval: float | None = None,
        *,
        reconnect: bool = False,
        max_reconnects: int = 3,
        stats_interval: float | None = 5.0,
        media_timeout: float = 10.0,
        network_profile: str | None = None,
        **new_fields: Any,
    ) -> Session:
        """A session with media, for ``async with``: it always stops its session on the way out.

        ``new_fields`` go to ``streaming.new`` as they are; the keyword options steer the harness (see Session).
        """
        from harness.session import Session

        return Session(
            self,
            quality,
            video_encoding,
            flow,
            receive,
            keep_alive_interval,
            reconnect=reconnect,
            max_reconnects=max_reconnects,
            stats_interval=stats_interval,
            media_timeout=media_timeout,
            network_profile=network_profile,
            **new_fields,
        )

    # --- plumbing ---

    def record(
        self,
        metric: str,
        value: float | None,
        unit: str,
        ok: bool = True,
        error: str | None = None,
        session_id: str | None = None,
        **labels: Any,
    ) -> None:
        """Send a sample to the sink with the client's labels and, for a session, its id, tier and codec."""
        merged = {**self.labels}
        if session_id is not None:
            merged.update(session=session_id, **self._session_labels.get(session_id, {}))
        merged.update(labels)
        self.sink.record(metric, value, unit, ok, error, **merged)

    def relabel(self, session_id: str, **labels: Any) -> None:
        """Correct a session's tier/codec labels (e.g. to the codec actually negotiated)."""
        self._session_labels.setdefault(session_id, {}).update(labels)

    async def _session_op(self, op: str, session_id: str) -> None:
        await self._call(op, "POST", f"/v1/{op}", {"session_id": session_id}, session_id)

    async def _call(
        self,
        op: str,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        session_id: str | None = None,
        params: dict[str, Any] | None = None,
        labels: dict[str, Any] | None = None,
    ) -> Any:
        """One request: returns the envelope's ``data`` or raises a typed error; records ``rest.<op>``."""
        labels = labels or {}
        metric = f"rest.{op}"
        started = time.perf_counter()
        try:
            response = await self._http.request(method, path, json=body, params=params)
        except httpx.TimeoutException:
            error: StreamingError = RequestTimeout(f"no response within {self._http.timeout.read}s", op=op)
            self.record(metric, None, "ms", False, error.label, session_id, **labels)
            raise error from None
        except httpx.HTTPError as exc:
            error = TransportError(self._scrub(f"{type(exc).__name__}: {exc}"), op=op)
            self.record(metric, None, "ms", False, error.label, session_id, **labels)
            raise error from None
        try:
            payload = response.json() if response.content else None
        except ValueError:
            payload = None
        elapsed = (time.perf_counter() - started) * 1000
        failure = self._failure(op, response.status_code, payload)
        if failure is not None:
            self.record(metric, elapsed, "ms", False, failure.label, session_id, **labels)
            raise failure
        self.record(metric, elapsed, "ms", True, None, session_id, **labels)
        return payload.get("data") if isinstance(payload, dict) else None

    def _failure(self, op: str, status: int, payload: Any) -> StreamingError | None:
        """The typed error a response stands for, or None for a success."""
        if not isinstance(payload, dict):
            if status < 400:
                return ServerError("response is not a JSON object", status=status, op=op)
            return error_for(None, status, f"HTTP {status}", op)
        code = payload.get("code")
        code = code if isinstance(code, int) and not isinstance(code, bool) else None
        if status < 400 and (code is None or code == SUCCESS):
            return None
        message = payload.get("message") or payload.get("error") or f"HTTP {status}"
        return error_for(code, status, self._scrub(str(message)), op)

    def _scrub(self, text: str) -> str:
        """Secrets out of any text an error will carry (a server may echo what it was sent)."""
        return scrub(text, self._secrets)


def _parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ServerError(f"response does not follow the contract: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    return f"{'.'.join(str(p) for p in first['loc']) or 'data'}: {first['msg']}"
