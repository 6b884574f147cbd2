"""``/api/<method>``: the Slack Web API entrypoint."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from cell.actions.auth import authenticate
from cell.api import request as req
from cell.api.registry import METHODS, Context
from cell.api.responses import error, ok
from cell.bootstrap import Services
from cell.errors import CellError, RateLimited
from cell.store import ratelimit


def describe(exc: ValidationError) -> str:
    problems = []
    for item in exc.errors():
        where = ".".join(str(part) for part in item["loc"]) or "body"
        problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)


async def dispatch(request: Request) -> Response:
    services: Services = request.app.state.services
    try:
        return ok(await _dispatch(services, request))
    except CellError as exc:
        return error(exc)


async def _dispatch(services: Services, request: Request) -> dict[str, object]:
    spec = METHODS.get(request.path_params["method"])
    if spec is None:
        raise CellError("unknown_method")
    settings = services.settings
    body = await req.read_body(request, settings.api.max_body_bytes)
    params = await req.parameters(request, body)
    actor = await authenticate(services.db, req.bearer_token(request, params), writes=spec.writes)
    limits = settings.rate_limits
    if limits.enabled:
        wait = await ratelimit.hit(
            services.redis, actor.token_id, spec.tier, getattr(limits, spec.tier), limits.window_seconds
        )
        if wait is not None:
            raise RateLimited(wait)
    try:
        args = spec.args.model_validate(params)
    except ValidationError as exc:
        raise CellError("invalid_arguments", detail=describe(exc)) from exc
    return await spec.handler(Context(services, actor), args)
