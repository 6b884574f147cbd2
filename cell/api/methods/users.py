"""``users.*``, ``users.conversations`` included."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from cell.api import cursor
from cell.api.arguments import CsvField
from cell.api.registry import Args, Context, method
from cell.domain import channels as channel_domain
from cell.domain import ids
from cell.domain.rows import UserRow
from cell.errors import CellError
from cell.store import channels, directory


def user_to_slack(row: UserRow) -> dict[str, Any]:
    user: dict[str, Any] = {
        "id": row["user_id"],
        "team_id": row["workspace_id"],
        "name": row["name"],
        "real_name": row["real_name"],
        "deleted": row["deleted"],
        "tz": row["tz"],
        "is_admin": row["is_admin"],
        "is_owner": row["is_owner"],
        "is_bot": row["is_bot"],
        "is_app_user": False,
        "updated": row["created"],
        "profile": {
            "real_name": row["real_name"],
            "display_name": row["name"],
            "email": row["email"],
            "team": row["workspace_id"],
        },
    }
    if row.get("bot_id"):
        user["profile"]["bot_id"] = row["bot_id"]
    return user


class ListArgs(Args):
    cursor: str | None = None
    limit: int = Field(default=200, ge=1, le=1000)


@method("users.list", ListArgs, tier="tier2")
async def users_list(ctx: Context, args: ListArgs) -> dict[str, Any]:
    after = cursor.decode("users", args.cursor) if args.cursor else ""
    async with ctx.services.db.read() as conn:
        rows = await directory.list_users(conn, ctx.actor.workspace_id, after, args.limit + 1)
    more = len(rows) > args.limit
    rows = rows[: args.limit]
    return {
        "members": [user_to_slack(r) for r in rows],
        "cache_ts": 0,
        **cursor.metadata(rows[-1]["user_id"] if more else None, "users"),
    }


class InfoArgs(Args):
    user: str


@method("users.info", InfoArgs, tier="tier4")
async def users_info(ctx: Context, args: InfoArgs) -> dict[str, Any]:
    if not ids.is_id(args.user, ids.USER):
        raise CellError("user_not_found")
    async with ctx.services.db.read() as conn:
        row = await directory.get_user(conn, ctx.actor.workspace_id, args.user)
    if row is None:
        raise CellError("user_not_found")
    return {"user": user_to_slack(row)}


class LookupArgs(Args):
    email: str = Field(min_length=1)


@method("users.lookupByEmail", LookupArgs, tier="tier3")
async def lookup_by_email(ctx: Context, args: LookupArgs) -> dict[str, Any]:
    async with ctx.services.db.read() as conn:
        row = await directory.get_user_by_email(conn, ctx.actor.workspace_id, args.email)
    if row is None:
        raise CellError("users_not_found")
    return {"user": user_to_slack(row)}


class ConversationsArgs(Args):
    user: str | None = None
    types: Annotated[list[str], CsvField] = Field(default_factory=lambda: ["public_channel"])
    exclude_archived: bool = False
    cursor: str | None = None
    limit: int = Field(default=100, ge=1, le=1000)


@method("users.conversations", ConversationsArgs, tier="tier3")
async def users_conversations(ctx: Context, args: ConversationsArgs) -> dict[str, Any]:
    """The conversations ``user`` (default: the caller) is a member of, among those the caller may see."""
    member = args.user or ctx.actor.user_id
    after = cursor.decode("channels", args.cursor) if args.cursor else ""
    async with ctx.services.db.read() as conn:
        if member != ctx.actor.user_id and (
                not ids.is_id(member, ids.USER) or await directory.get_user(conn, ctx.actor.workspace_id, member) is None):
            raise CellError("user_not_found")
        unknown = [t for t in args.types if t not in channel_domain.LIST_TYPES]
        if unknown:
            raise CellError("invalid_types", detail=f"unknown types: {', '.join(unknown)}")
        kinds = sorted({channel_domain.LIST_TYPES[t] for t in args.types})
        rows = await channels.list_of_member(conn, ctx.actor.workspace_id, ctx.actor.user_id, member, kinds=kinds,
                                             exclude_archived=args.exclude_archived, after=after,
                                             limit=args.limit + 1)
    more = len(rows) > args.limit
    rows = rows[: args.limit]
    page = [channel_domain.to_slack(row, for_user=ctx.actor.user_id) for row in rows]
    return {"channels": page, **cursor.metadata(rows[-1]["channel_id"] if more else None, "channels")}
