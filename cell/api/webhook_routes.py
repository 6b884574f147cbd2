"""``POST /services/<workspace>/<webhook id>/<secret>``: incoming webhooks (cell.apps.webhooks).

Answers are Slack's: plain text, ``ok`` or an error word, with Slack's HTTP statuses. The body
is Slack's JSON payload (``application/json``), or a form with the JSON in ``payload``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from cell import logs
from cell.api import request as req
from cell.api import rest
from cell.apps import webhooks
from cell.apps.webhooks import Refused
from cell.errors import CellError, RequestTooLarge

TIER = "webhook"


def _payload(body: bytes, content_type: str) -> dict[str, Any]:
    kind = content_type.split(";")[0].strip().lower()
    raw = body
    if kind == "application/x-www-form-urlencoded":
        try:
            found = parse_qs(body.decode("utf-8"), max_num_fields=100).get("payload")
        except (UnicodeDecodeError, ValueError) as exc:
            raise Refused("invalid_payload", 400) from exc
        if not found:
            raise Refused("invalid_payload", 400)
        raw = found[0].encode()
    try:
        decoded = orjson.loads(raw)
        checked = req.checked(decoded)
    except (orjson.JSONDecodeError, CellError) as exc:
        raise Refused("invalid_payload", 400) from exc
    if not isinstance(checked, dict):
        raise Refused("invalid_payload", 400)
    return checked


async def _limited(request: Request, webhook_id: str) -> int | None:
    """Slack's 1 post a second per webhook, with short bursts: at most ``webhook_burst`` in any
    one second and ``webhook`` a minute (both fixed windows, the API's rate limiter). The seconds
    to wait when over either, else None."""
    services = rest.services(request)
    limits = services.settings.rate_limits
    if not limits.enabled:
        return None
    key = f"hook:{webhook_id}"
    burst = await services.limiter.hit(key, f"{TIER}-burst", limits.webhook_burst, 1)
    minute = await services.limiter.hit(key, TIER, limits.webhook, 60)
    waits = [wait for wait in (burst, minute) if wait is not None]
    return max(waits) if waits else None


async def incoming_webhook(request: Request) -> Response:
    services = rest.services(request)
    workspace_id = request.path_params["workspace_id"]
    webhook_id, secret = request.path_params["webhook_id"], request.path_params["secret"]
    try:
        row = await webhooks.webhook_for(services.db, workspace_id, webhook_id, secret)
        logs.note_workspace(workspace_id)
        wait = await _limited(request, webhook_id)
        if wait is not None:
            return PlainTextResponse("rate_limited", status_code=429, headers={"Retry-After": str(wait)})
        try:
            body = await req.read_body(request, services.settings.api.max_body_bytes)
        except RequestTooLarge:
            raise Refused("invalid_payload", 413) from None
        payload = _payload(body, request.headers.get("content-type", "application/json"))
        await webhooks.post(services.db, row, payload, max_chars=services.settings.api.max_text_chars)
    except Refused as refused:
        return PlainTextResponse(refused.answer, status_code=refused.status)
    return PlainTextResponse("ok")


routes = [Route("/services/{workspace_id}/{webhook_id}/{secret}", incoming_webhook, methods=["POST"])]
