"""The gateway's HTTP surface: ``/rtm`` (WebSocket), ``/rtm/poll`` (long-poll fallback) and
``/socket-mode`` (apps' Socket Mode WebSockets)."""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from cell.actions.auth import authenticate
from cell.api import request as req
from cell.bootstrap import Services
from cell.errors import CellError
from cell.gateway.service import Gateway


async def rtm_socket(websocket: WebSocket) -> None:
    gateway: Gateway = websocket.app.state.runtime.gateway
    await gateway.serve(websocket)


async def socket_mode_socket(websocket: WebSocket) -> None:
    gateway: Gateway = websocket.app.state.runtime.gateway
    await gateway.socket_mode.serve(websocket)


async def rtm_poll(request: Request) -> Response:
    services: Services = request.app.state.services
    gateway: Gateway = request.app.state.runtime.gateway
    body = await req.read_body(request, services.settings.api.max_body_bytes)
    params = await req.parameters(request, body)
    actor = await authenticate(services.db, req.bearer_token(request, params), writes=False)
    limit = services.settings.realtime.long_poll_timeout_seconds
    try:
        asked = float(params.get("timeout", limit))
    except (TypeError, ValueError) as exc:
        raise CellError("invalid_arguments", detail="timeout must be a number of seconds") from exc
    if math.isnan(asked):  # min/max let a NaN through, and the wait then fails
        raise CellError("invalid_arguments", detail="timeout must be a number of seconds")
    timeout = min(max(asked, 0.0), limit)
    pos = params.get("pos")
    answer = await gateway.poll(
        actor.workspace_id, actor.user_id, actor.token_id, pos if isinstance(pos, str) and pos else None, timeout
    )
    return Response(answer, media_type="application/json; charset=utf-8")


routes: list[BaseRoute] = [
    WebSocketRoute("/rtm", rtm_socket),
    WebSocketRoute("/socket-mode", socket_mode_socket),
    Route("/rtm/poll", rtm_poll, methods=["GET", "POST"]),
]
