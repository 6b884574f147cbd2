"""``/api/<method>``: the Slack Web API entrypoint."""

from __future__ import annotations

import time
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from cell import logs, telemetry
from cell.actions.auth import Actor, authenticate
from cell.api import request as req
from cell.api import scope_check
from cell.api.registry import METHODS, Context, MethodSpec
from cell.api.responses import error, ok
from cell.bootstrap import Services
from cell.errors import CellError, RateLimited


def describe(exc: ValidationError) -> str:
    problems = []
    for item in exc.errors():
        where = ".".join(str(part) for part in item["loc"]) or "body"
        problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)


async def dispatch(request: Request) -> Response:
    services: Services = request.app.state.services
    name = request.path_params["method"]
    label = name if name in METHODS else "unknown"
    started = time.perf_counter()
    code, problem = 500, None  # what escapes is the guard's 500
    headers: dict[str, str] = {}  # the token's scopes and the method's (scope_check.headers)
    try:
        response = ok(await _dispatch(services, request, headers))
        response.headers.update(headers)
        code = response.status_code
        return response
    except CellError as exc:
        if isinstance(exc, RateLimited):
            spec = METHODS.get(name)
            telemetry.RATE_LIMITED.labels(label, spec.tier if spec else "").inc()
        response = error(exc)
        response.headers.update(headers)
        code, problem = response.status_code, exc.code
        return response
    finally:
        telemetry.api_answered(label, code, problem if code != 500 else "internal_error",
                               time.perf_counter() - started)


async def _dispatch(services: Services, request: Request, headers: dict[str, str]) -> dict[str, object]:
    spec = METHODS.get(request.path_params["method"])
    if spec is None:
        raise CellError("unknown_method")
    settings = services.settings
    if spec.multipart and req.is_multipart(request):
        # Authenticated (header or query token) before a byte of the body is spooled to disk.
        query = dict(request.query_params)
        actor = await authenticate(services.db, req.bearer_token(request, query), writes=spec.writes,
                                   app_token=True)
        headers.update(scope_check.headers(spec.name, actor))
        await scope_check.enforce(services, spec.name, actor, query)  # before a byte is spooled
        form = await req.multipart_form(request)
        try:
            return await _call(services, request, spec, {**query, **req.form_values(form)}, headers, actor)
        finally:
            await form.close()  # the spooled files
    body = await req.read_body(request, settings.api.max_body_bytes)
    return await _call(services, request, spec, await req.parameters(request, body), headers)


async def _call(services: Services, request: Request, spec: MethodSpec, params: dict[str, Any],
                headers: dict[str, str], actor: Actor | None = None) -> dict[str, Any]:
    settings = services.settings
    if actor is None:
        actor = await authenticate(services.db, req.bearer_token(request, params), writes=spec.writes,
                                   app_token=True)
        headers.update(scope_check.headers(spec.name, actor))
        await scope_check.enforce(services, spec.name, actor, params)
    logs.note_workspace(actor.workspace_id)
    limits = settings.rate_limits
    if limits.enabled:
        wait = await services.limiter.hit(actor.token_id, spec.tier, getattr(limits, spec.tier), limits.window_seconds)
        if wait is not None:
            raise RateLimited(wait)
    try:
        args = spec.args.model_validate(params)
    except ValidationError as exc:
        raise CellError("invalid_arguments", detail=describe(exc)) from exc
    return await spec.handler(Context(services, actor, req.base_url(request)), args)
