"""Network profiles from the client's side: have a mock impair a session's network, and label what is measured.

The mock does the impairing, at its own send path (``/__admin/network``, docs/network-conditions.md); the
harness names a profile from the mock's table and labels the session's samples ``network_profile`` so reports
split by it ("speech onset p95 on regular-3g"). Mock targets only: the real service has no admin API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from harness.admin import admin_data

if TYPE_CHECKING:
    from harness.session import Session

#: The sample label reports split by (docs/run-format.md).
LABEL = "network_profile"


def parse_profiles(value: str | None) -> list[str]:
    """``--network-profile`` as given on a command line: one name or several, comma-separated."""
    return [name.strip() for name in (value or "").split(",") if name.strip()]


async def set_session_network(
    base_url: str, session_id: str, profile: str | None = None, *, timeout: float = 10.0, **conditions: Any
) -> dict[str, Any]:
    """Give one session of a mock its own network conditions: a named profile and/or explicit fields
    (``loss_percent``, ``delay_ms``, ``jitter_ms``, ``bandwidth_kbps``, ``outage_s``, ...). Returns the mock's view."""
    body = {**conditions, **({"profile": profile} if profile is not None else {})}
    return await _admin(base_url, "PUT", f"sessions/{session_id}/network", body, timeout)


async def set_global_network(
    base_url: str, profile: str | None = None, *, timeout: float = 10.0, **conditions: Any
) -> dict[str, Any]:
    """Network conditions for every session of a mock without its own; ``clear_global_network`` undoes it."""
    body = {**conditions, **({"profile": profile} if profile is not None else {})}
    return await _admin(base_url, "PUT", "network", body, timeout)


async def clear_global_network(base_url: str, *, timeout: float = 10.0) -> None:
    await _admin(base_url, "DELETE", "network", None, timeout)


async def network_profiles(base_url: str, *, timeout: float = 10.0) -> dict[str, dict[str, Any]]:
    """The mock's profile table: name -> conditions."""
    return dict((await _admin(base_url, "GET", "network/profiles", None, timeout))["profiles"])


async def apply_network_profile(session: Session, profile: str) -> None:
    """Impair an open session's network from now on and label its samples with ``profile``.

    For a session that is bad from its start (set-up included), open it with ``network_profile`` instead.
    """
    await set_session_network(session.client.base_url, session.session_id, profile)
    session.client.relabel(session.session_id, **{LABEL: profile})


async def _admin(base_url: str, method: str, path: str, body: Any, timeout: float) -> Any:
    async with httpx.AsyncClient(base_url=f"{base_url.rstrip('/')}/__admin/", timeout=timeout) as http:
        response = await http.request(method, path, json=body)
    return admin_data(response, method, path)
