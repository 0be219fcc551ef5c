"""A small synchronous client for the mock's ``/__admin/`` API: what a test needs to steer the mock.

Synchronous on purpose: it works from sync tests, fixtures and scripts alike; the mock runs on its own
thread (or process), so a blocking call here never stalls it.
"""

from __future__ import annotations

from typing import Any

import httpx

from harness.errors import error_for


class MockAdmin:
    """Settings, limits, faults, session kills, events and leak counters of a running mock."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=f"{self.base_url}/__admin/", timeout=timeout)
        # The mock masks keys when it shows settings, so per-key limits set here are remembered here.
        self._limits: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"MockAdmin({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MockAdmin:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- whole mock ---

    def reset(self) -> None:
        """Close every session, forget tokens and history, clear faults and rate limits."""
        self._call("POST", "reset")

    def settings(self) -> dict[str, Any]:
        """The live settings (keys masked)."""
        return dict(self._call("GET", "settings"))

    def update_settings(self, **patch: Any) -> dict[str, Any]:
        """Merge fields into the live settings, e.g. ``update_settings(speech={"words_per_minute": 600})``."""
        return dict(self._call("PUT", "settings", patch))

    def set_concurrency_limit(self, limit: int, api_key: str | None = None) -> None:
        """Live sessions allowed per key (for one ``api_key`` only, when given)."""
        if api_key is None:
            self.update_settings(concurrency_limit=limit)
        else:
            self._limits[api_key] = limit
            self.update_settings(concurrency_limits=dict(self._limits))

    def restore_settings(self, settings: dict[str, Any]) -> None:
        """Put back a complete settings dump (e.g. the ones the mock started with)."""
        self._limits.clear()
        self._call("PUT", "settings", settings)

    def stats(self) -> dict[str, int]:
        """Live counts (sessions, timers, peer connections) that must return to zero: leak checks."""
        return dict(self._call("GET", "stats"))

    def usage(self) -> dict[str, float]:
        return dict(self._call("GET", "usage")["usage"])

    # --- faults ---

    def set_faults(self, endpoints: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Replace the fault table: ``{"streaming.new": {"error_rate": 1, "error_code": 10007}}``."""
        return dict(self._call("PUT", "faults", {"endpoints": endpoints}))

    def fail(self, endpoint: str, code: int, rate: float = 1.0, message: str = "injected fault") -> None:
        """Make ``endpoint`` (``"*"`` = all) answer error ``code`` with probability ``rate``; other faults stay."""
        self._merge_fault(endpoint, {"error_rate": rate, "error_code": code, "error_message": message})

    def delay(self, endpoint: str, ms: float) -> None:
        """Add a fixed latency to ``endpoint`` (``"*"`` = all); other faults stay."""
        self._merge_fault(endpoint, {"latency": {"kind": "fixed", "ms": ms}})

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    # --- network conditions (docs/network-conditions.md) ---

    def network_profiles(self) -> dict[str, dict[str, Any]]:
        """The mock's named network profiles: name -> conditions."""
        return dict(self._call("GET", "network/profiles")["profiles"])

    def set_network(self, profile: str | None = None, session_id: str | None = None, **conditions: Any) -> Any:
        """Impair the network: a profile and/or fields (``loss_percent=5``, ``outage_s=10``, ...), for one session
        or (``session_id`` None) every session without its own. Takes effect at once, mid-session too."""
        body = {**conditions, **({"profile": profile} if profile is not None else {})}
        return self._call("PUT", self._network_path(session_id), body)

    def network(self, session_id: str | None = None) -> Any:
        """The conditions in force (for a session: its own, the effective ones and drop counters)."""
        return self._call("GET", self._network_path(session_id))

    def clear_network(self, session_id: str | None = None) -> None:
        """Back to an unimpaired network (a session: back to the global conditions)."""
        self._call("DELETE", self._network_path(session_id))

    @staticmethod
    def _network_path(session_id: str | None) -> str:
        return f"sessions/{session_id}/network" if session_id is not None else "network"

    # --- sessions ---

    def sessions(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "sessions")["sessions"])

    def session(self, session_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"sessions/{session_id}"))

    def events(self, session_id: str) -> list[dict[str, Any]]:
        """Events the mock emitted for a session (what the client should have received)."""
        return list(self._call("GET", f"sessions/{session_id}/events")["events"])

    def kill(self, session_id: str) -> dict[str, Any]:
        """End a session as if the service dropped it: media closes, later calls get 10005."""
        return dict(self._call("POST", f"sessions/{session_id}/kill"))

    # --- plumbing ---

    def _merge_fault(self, endpoint: str, fault: dict[str, Any]) -> None:
        endpoints = dict(self._call("GET", "faults")["endpoints"])
        endpoints[endpoint] = {**endpoints.get(endpoint, {}), **fault}
        self.set_faults(endpoints)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        return admin_data(self._http.request(method, path, json=body), method, path)


def admin_data(response: httpx.Response, method: str, path: str) -> Any:
    """The ``data`` of an admin API answer, or the typed error it carries."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if response.status_code >= 400 or not isinstance(payload, dict):
        code = payload.get("code") if isinstance(payload, dict) else None
        message = payload.get("message") if isinstance(payload, dict) else response.text[:200]
        raise error_for(code, response.status_code, str(message), f"admin {method} {path}")
    return payload.get("data")
