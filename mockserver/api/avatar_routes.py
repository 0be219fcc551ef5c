"""The avatar catalogue endpoint."""

from __future__ import annotations

from aiohttp import web

from mockserver.api.common import caller
from mockserver.api.envelope import ok
from mockserver.catalog import avatar_list

routes = web.RouteTableDef()

#: Catalogue entries carry a fixed creation time (2024-01-01) so responses are stable.
CATALOGUE_CREATED_AT = 1704067200


@routes.get("/v1/streaming/avatar.list", name="streaming.avatar.list")
async def list_avatars(request: web.Request) -> web.Response:
    caller(request)
    return ok(avatar_list(CATALOGUE_CREATED_AT))
