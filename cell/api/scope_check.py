"""The dispatcher's scope check: every Slack method call, before its handler runs.

The table is ``cell.domain.scopes.METHOD_SCOPES``; this module only finds out which kinds of
conversation a call touches when the answer depends on it (the ``channel`` a call names is
looked up only when the token holds part of a scope family, so most calls cost nothing).
A refusal is Slack's: ``missing_scope`` with ``needed`` and ``provided``, or
``not_allowed_token_type``; every answer carries ``X-OAuth-Scopes`` (what the token holds)
and ``X-Accepted-OAuth-Scopes`` (what the method accepts), as Slack's do.
"""

from __future__ import annotations

from typing import Any

from cell.actions.auth import Actor
from cell.bootstrap import Services
from cell.domain import ids, scopes
from cell.domain.scopes import ConversationKind, Need
from cell.errors import CellError
from cell.store import channels

_BY_PREFIX: dict[str, ConversationKind] = {ids.DM: "im", ids.GROUP_DM: "mpim"}


def headers(method: str, actor: Actor) -> dict[str, str]:
    need = scopes.METHOD_SCOPES.get(method)
    return {"X-OAuth-Scopes": ",".join(sorted(actor.scopes)),
            "X-Accepted-OAuth-Scopes": ",".join(scopes.accepted(need, actor.kind))}


def _truthy(value: Any) -> bool:
    return value is True or value == 1 or (isinstance(value, str) and value.strip().lower() in ("true", "1"))


async def _channel_kind(services: Services, actor: Actor, channel: Any) -> ConversationKind | None:
    if not isinstance(channel, str) or not ids.is_id(channel, ids.CONVERSATION_KINDS):
        return None
    if channel[0] in _BY_PREFIX:
        return _BY_PREFIX[channel[0]]
    async with services.db.read() as conn:
        return await channels.kind_of(conn, actor.workspace_id, channel)


async def _kinds(services: Services, need: Need, actor: Actor, params: dict[str, Any]) -> list[ConversationKind] | None:
    """The kinds of conversation the call touches; None when the call does not say (the handler
    then refuses it: an unknown channel is ``channel_not_found`` whatever the scopes)."""
    if need.kinds == "types":
        types = params.get("types")
        return scopes.kinds_of_types(types if isinstance(types, str) else None)
    if need.kinds == "create":
        return ["private" if _truthy(params.get("is_private")) else "public"]
    if need.kinds == "open" and not params.get("channel"):
        users = params.get("users")
        count = len([u for u in users.split(",") if u.strip()]) if isinstance(users, str) else 1
        return ["im" if count <= 1 else "mpim"]
    kind = await _channel_kind(services, actor, params.get("channel"))
    return [kind] if kind is not None else None


async def enforce(services: Services, method: str, actor: Actor, params: dict[str, Any]) -> None:
    """Refuse the call (``CellError``) unless the actor's token holds what ``method`` needs."""
    need = scopes.METHOD_SCOPES.get(method)
    app_token = actor.app_id is not None
    kinds = None
    if app_token and need is not None and need.kinds != "channel":
        kinds = await _kinds(services, need, actor, params)  # from the arguments (no lookup but a named channel)
    verdict = scopes.check(need, actor.kind, actor.scopes, app_token=app_token, kinds=kinds)
    if verdict.allowed:
        return
    if verdict.lookup and need is not None:
        kinds = await _kinds(services, need, actor, params)
        if kinds is None:
            return
        verdict = scopes.check(need, actor.kind, actor.scopes, app_token=app_token, kinds=kinds)
        if verdict.allowed:
            return
    if verdict.error == "missing_scope":
        raise CellError("missing_scope", needed=verdict.needed, provided=",".join(sorted(actor.scopes)))
    raise CellError("not_allowed_token_type")
