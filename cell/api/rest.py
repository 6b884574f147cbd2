"""What the cell's plain JSON endpoints share (``/v1`` in ``admin``, ``/v1/control`` in ``control``):
strict body models, reading one, the admin-token checks, the request's services."""

from __future__ import annotations

import hmac
from typing import TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request

from cell.actions import auth
from cell.api import request as req
from cell.api.slack import describe
from cell.bootstrap import Services
from cell.errors import CellError


class Body(BaseModel):
    """Base of the JSON bodies: unknown keys are refused (``invalid_arguments``)."""

    model_config = ConfigDict(extra="forbid")


B = TypeVar("B", bound=BaseModel)


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def json_body(request: Request, model: type[B]) -> B:
    """The request's JSON body as ``model`` (an empty body is ``{}``): ``invalid_json`` when it
    is not JSON, ``invalid_arguments`` when it does not fit, ``request_too_large`` past the limit."""
    raw = await req.read_body(request, services(request).settings.api.max_body_bytes)
    try:
        return model.model_validate(req.checked(orjson.loads(raw or b"{}")))
    except orjson.JSONDecodeError as exc:
        raise CellError("invalid_json") from exc
    except ValidationError as exc:
        raise CellError("invalid_arguments", detail=describe(exc)) from exc


def require_admin(request: Request) -> None:
    """The caller holds the cell's admin token (``not_authed``, ``not_allowed_token_type``)."""
    token = req.bearer_token(request, {})
    expected = services(request).settings.admin_token.get_secret_value()
    if not token:
        raise CellError("not_authed")
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise CellError("not_allowed_token_type", detail="an admin token is required")


async def require_admin_or_workspace_admin(request: Request, workspace_id: str) -> None:
    """The caller holds the admin token, or is an admin of ``workspace_id`` (``not_allowed``)."""
    token = req.bearer_token(request, {})
    expected = services(request).settings.admin_token.get_secret_value()
    if token and hmac.compare_digest(token.encode(), expected.encode()):
        return
    actor = await auth.authenticate(services(request).db, token, writes=True)
    if actor.workspace_id != workspace_id or not actor.is_admin:
        raise CellError("not_allowed", detail="workspace admins only")
