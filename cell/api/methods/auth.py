"""``auth.test``, ``auth.revoke``."""

from __future__ import annotations

from typing import Any

from cell.actions import auth
from cell.api.registry import Args, Context, method


class NoArgs(Args):
    pass


class RevokeArgs(Args):
    test: bool = False


@method("auth.test", NoArgs, tier="tier4")
async def auth_test(ctx: Context, args: NoArgs) -> dict[str, Any]:
    actor = ctx.actor
    body: dict[str, Any] = {
        "url": f"https://{actor.domain}.cellchat.local/",
        "team": actor.team_name,
        "user": actor.user_name,
        "team_id": actor.workspace_id,
        "user_id": actor.user_id,
        "is_enterprise_install": False,
    }
    if actor.bot_id:
        body["bot_id"] = actor.bot_id
        if actor.app_id:
            body["app_id"] = actor.app_id
    return body


@method("auth.revoke", RevokeArgs, tier="tier3")
async def auth_revoke(ctx: Context, args: RevokeArgs) -> dict[str, Any]:
    if args.test:
        return {"revoked": False}
    revoked = await auth.revoke(ctx.services.db, ctx.actor.workspace_id, ctx.actor.token_id)
    ctx.services.revoked.wake()  # committed: the gateways close its sockets now, not at their next poll
    return {"revoked": revoked}
