"""``conversations.*`` (threads, ``conversations.replies``, live with the messages).

Thin: parse, call one action in ``cell.actions.conversations``, shape Slack's answer.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from cell.actions import conversations, files, messages
from cell.api import cursor
from cell.api.arguments import CsvField
from cell.api.methods.files import file_context
from cell.api.registry import Args, Context, method
from cell.domain.ts import parse_ts
from cell.errors import CellError


class CreateArgs(Args):
    name: str
    is_private: bool = False


@method("conversations.create", CreateArgs, tier="tier2", writes=True)
async def create(ctx: Context, args: CreateArgs) -> dict[str, Any]:
    channel = await conversations.create(ctx.services.db, ctx.actor, args.name, is_private=args.is_private)
    return {"channel": channel}


class HistoryArgs(Args):
    channel: str
    cursor: str | None = None
    latest: str | None = None
    oldest: str | None = None
    inclusive: bool = False
    limit: int = Field(default=100, ge=1, le=1000)


def ts_arg(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return parse_ts(value)
    except ValueError as exc:
        raise CellError("invalid_arguments", detail=f"{name} must be a ts like 1700000000.000100") from exc


@method("conversations.history", HistoryArgs, tier="tier3")
async def history(ctx: Context, args: HistoryArgs) -> dict[str, Any]:
    latest, oldest = ts_arg(args.latest, "latest"), ts_arg(args.oldest, "oldest")
    if args.cursor:
        before: int | None = cursor.decode_int("history", args.cursor)
    elif latest is not None:
        before = latest + 1 if args.inclusive else latest
    else:
        before = None
    after = 0 if oldest is None else (oldest - 1 if args.inclusive else oldest)
    page, has_more, next_ts = await messages.history(
        ctx.services.db, ctx.actor, args.channel, before=before, after=after, limit=args.limit
    )
    await files.hydrate(file_context(ctx), ctx.actor.workspace_id, page)
    return {
        "messages": page,
        "has_more": has_more,
        "pin_count": 0,
        **cursor.metadata(str(next_ts) if next_ts is not None else None, "history"),
    }


# --- reading ------------------------------------------------------------------------


class ChannelArgs(Args):
    channel: str


class InfoArgs(ChannelArgs):
    include_num_members: bool = False
    include_locale: bool = False


@method("conversations.info", InfoArgs, tier="tier3")
async def info(ctx: Context, args: InfoArgs) -> dict[str, Any]:
    channel = await conversations.info(
        ctx.services.db, ctx.actor, args.channel, include_num_members=args.include_num_members
    )
    return {"channel": channel}


class ListArgs(Args):
    types: Annotated[list[str], CsvField] = Field(default_factory=lambda: ["public_channel"])
    exclude_archived: bool = False
    cursor: str | None = None
    limit: int = Field(default=100, ge=1, le=1000)


@method("conversations.list", ListArgs, tier="tier2")
async def list_(ctx: Context, args: ListArgs) -> dict[str, Any]:
    after = cursor.decode("channels", args.cursor) if args.cursor else ""
    page, next_id = await conversations.list_visible(
        ctx.services.db, ctx.actor, types=args.types or ["public_channel"],
        exclude_archived=args.exclude_archived, after=after, limit=args.limit,
    )
    return {"channels": page, **cursor.metadata(next_id, "channels")}


class MembersArgs(ChannelArgs):
    cursor: str | None = None
    limit: int = Field(default=100, ge=1, le=1000)


@method("conversations.members", MembersArgs, tier="tier4")
async def members(ctx: Context, args: MembersArgs) -> dict[str, Any]:
    after = cursor.decode("members", args.cursor) if args.cursor else ""
    page, next_id = await conversations.members(
        ctx.services.db, ctx.actor, args.channel, after=after, limit=args.limit
    )
    return {"members": page, **cursor.metadata(next_id, "members")}


# --- membership ---------------------------------------------------------------------


@method("conversations.join", ChannelArgs, tier="tier3", writes=True)
async def join(ctx: Context, args: ChannelArgs) -> dict[str, Any]:
    channel, already = await conversations.join(ctx.services.db, ctx.actor, args.channel)
    if already:
        return {"channel": channel, "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]}}
    return {"channel": channel}


@method("conversations.leave", ChannelArgs, tier="tier3", writes=True)
async def leave(ctx: Context, args: ChannelArgs) -> dict[str, Any]:
    await conversations.leave(ctx.services.db, ctx.actor, args.channel)
    return {}


class InviteArgs(ChannelArgs):
    users: Annotated[list[str], CsvField]
    force: bool = False


@method("conversations.invite", InviteArgs, tier="tier3", writes=True)
async def invite(ctx: Context, args: InviteArgs) -> dict[str, Any]:
    channel, errors = await conversations.invite(
        ctx.services.db, ctx.actor, args.channel, args.users, force=args.force
    )
    return {"channel": channel, "errors": errors} if errors else {"channel": channel}


class KickArgs(ChannelArgs):
    user: str


@method("conversations.kick", KickArgs, tier="tier3", writes=True)
async def kick(ctx: Context, args: KickArgs) -> dict[str, Any]:
    await conversations.kick(ctx.services.db, ctx.actor, args.channel, args.user)
    return {}


# --- the channel itself -------------------------------------------------------------


@method("conversations.archive", ChannelArgs, tier="tier2", writes=True)
async def archive(ctx: Context, args: ChannelArgs) -> dict[str, Any]:
    await conversations.set_archived(ctx.services.db, ctx.actor, args.channel, archive=True)
    return {}


@method("conversations.unarchive", ChannelArgs, tier="tier2", writes=True)
async def unarchive(ctx: Context, args: ChannelArgs) -> dict[str, Any]:
    await conversations.set_archived(ctx.services.db, ctx.actor, args.channel, archive=False)
    return {}


class RenameArgs(ChannelArgs):
    name: str


@method("conversations.rename", RenameArgs, tier="tier2", writes=True)
async def rename(ctx: Context, args: RenameArgs) -> dict[str, Any]:
    return {"channel": await conversations.rename(ctx.services.db, ctx.actor, args.channel, args.name)}


class TopicArgs(ChannelArgs):
    topic: str = ""


@method("conversations.setTopic", TopicArgs, tier="tier2", writes=True)
async def set_topic(ctx: Context, args: TopicArgs) -> dict[str, Any]:
    channel = await conversations.set_topic_or_purpose(ctx.services.db, ctx.actor, args.channel, "topic", args.topic)
    return {"channel": channel}


class PurposeArgs(ChannelArgs):
    purpose: str = ""


@method("conversations.setPurpose", PurposeArgs, tier="tier2", writes=True)
async def set_purpose(ctx: Context, args: PurposeArgs) -> dict[str, Any]:
    channel = await conversations.set_topic_or_purpose(
        ctx.services.db, ctx.actor, args.channel, "purpose", args.purpose
    )
    return {"channel": channel}


class MarkArgs(ChannelArgs):
    ts: str


@method("conversations.mark", MarkArgs, tier="tier3", writes=True)
async def mark(ctx: Context, args: MarkArgs) -> dict[str, Any]:
    try:
        ts = parse_ts(args.ts)
    except ValueError as exc:
        raise CellError("invalid_timestamp") from exc
    await conversations.mark(ctx.services.db, ctx.actor, args.channel, ts)
    return {}


# --- direct messages ----------------------------------------------------------------


class OpenArgs(Args):
    users: Annotated[list[str] | None, CsvField] = None
    channel: str | None = None
    return_im: bool = False


@method("conversations.open", OpenArgs, tier="tier3", writes=True)
async def open_(ctx: Context, args: OpenArgs) -> dict[str, Any]:
    channel, already_open = await conversations.open_dm(
        ctx.services.db, ctx.actor, user_ids=args.users, channel_id=args.channel or None
    )
    # Slack answers a 1:1 DM with its id unless asked for more; group DMs always in full.
    body: dict[str, Any] = {"channel": channel if channel["is_mpim"] or args.return_im else {"id": channel["id"]}}
    if already_open:
        body.update({"no_op": True, "already_open": True})
    return body


@method("conversations.close", ChannelArgs, tier="tier2", writes=True)
async def close(ctx: Context, args: ChannelArgs) -> dict[str, Any]:
    if await conversations.close_dm(ctx.services.db, ctx.actor, args.channel):
        return {}
    return {"no_op": True, "already_closed": True}
