"""``chat.postMessage``, ``chat.update``, ``chat.delete``, ``chat.postEphemeral``, ``chat.meMessage``,
``chat.getPermalink``."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from pydantic import Field

from cell.actions import messages
from cell.actions.auth import Actor
from cell.api.arguments import JsonField, ts_or, ts_or_none
from cell.api.registry import Args, Context, method
from cell.domain.messages import is_reply
from cell.domain.ts import format_ts
from cell.errors import CellError


class PostArgs(Args):
    channel: str
    text: str = ""
    thread_ts: str | None = None
    reply_broadcast: bool = False
    client_msg_id: str | None = None
    blocks: Annotated[list[Any] | None, JsonField] = None
    attachments: Annotated[list[Any] | None, JsonField] = None
    confirm_broadcast: bool = False  # @here/@channel in a large channel (notify.broadcast_confirm_members)
    username: str | None = Field(default=None, max_length=80)  # with chat:write.customize
    icon_emoji: str | None = Field(default=None, max_length=100)
    icon_url: str | None = Field(default=None, max_length=500)


def _customized(actor: Actor, args: PostArgs) -> Actor:
    """An app's bot holding ``chat:write.customize`` posts under the ``username``/``icon_*`` it names
    (as Slack shows them: ``username``, ``icons``); without the scope they are ignored, as Slack does."""
    if actor.bot is None or "chat:write.customize" not in actor.scopes or not (
            args.username or args.icon_emoji or args.icon_url):
        return actor
    bot = dict(actor.bot)
    if args.username:
        bot["username"] = args.username
    if args.icon_emoji or args.icon_url:
        bot["icons"] = {"emoji": args.icon_emoji} if args.icon_emoji else {"image_48": args.icon_url}
    return replace(actor, bot=bot)


@method("chat.postMessage", PostArgs, tier="post", writes=True)
async def post_message(ctx: Context, args: PostArgs) -> dict[str, Any]:
    thread_ts = ts_or_none(args.thread_ts) if args.thread_ts else None
    if args.thread_ts and thread_ts is None:
        raise CellError("invalid_arguments", detail="thread_ts must be a ts like 1700000000.000100")
    channel, message = await messages.post_message(
        ctx.services.db, _customized(ctx.actor, args), args.channel,
        text=args.text, max_chars=ctx.services.settings.api.max_text_chars,
        thread_ts=thread_ts, reply_broadcast=args.reply_broadcast,
        client_msg_id=args.client_msg_id or None, blocks=args.blocks, attachments=args.attachments,
        broadcast_limit=ctx.services.settings.notify.broadcast_confirm_members,
        confirm_broadcast=args.confirm_broadcast,
    )
    return {"channel": channel, "ts": message["ts"], "message": message}


class UpdateArgs(Args):
    channel: str
    ts: str
    text: str | None = None
    blocks: Annotated[list[Any] | None, JsonField] = None
    attachments: Annotated[list[Any] | None, JsonField] = None


@method("chat.update", UpdateArgs, tier="tier3", writes=True)
async def update(ctx: Context, args: UpdateArgs) -> dict[str, Any]:
    channel, message = await messages.update_message(
        ctx.services.db, ctx.actor, args.channel, ts_or_none(args.ts),
        text=args.text, blocks=args.blocks, attachments=args.attachments,
        max_chars=ctx.services.settings.api.max_text_chars,
    )
    return {"channel": channel, "ts": message["ts"], "text": message["text"], "message": message}


class DeleteArgs(Args):
    channel: str
    ts: str


@method("chat.delete", DeleteArgs, tier="tier3", writes=True)
async def delete(ctx: Context, args: DeleteArgs) -> dict[str, Any]:
    ts = ts_or_none(args.ts)
    await messages.delete_message(ctx.services.db, ctx.actor, args.channel, ts)
    return {"channel": args.channel, "ts": args.ts}


class EphemeralArgs(Args):
    channel: str
    user: str = ""
    text: str = ""
    thread_ts: str | None = None
    blocks: Annotated[list[Any] | None, JsonField] = None
    attachments: Annotated[list[Any] | None, JsonField] = None


@method("chat.postEphemeral", EphemeralArgs, tier="tier4", writes=True)
async def post_ephemeral(ctx: Context, args: EphemeralArgs) -> dict[str, Any]:
    """A message only ``user`` sees, in real time, never in history."""
    thread_ts = ts_or_none(args.thread_ts) if args.thread_ts else None
    if args.thread_ts and thread_ts is None:
        raise CellError("invalid_arguments", detail="thread_ts must be a ts like 1700000000.000100")
    ts = await messages.post_ephemeral(
        ctx.services.db, ctx.actor, args.channel, args.user, text=args.text,
        max_chars=ctx.services.settings.api.max_text_chars, thread_ts=thread_ts,
        blocks=args.blocks, attachments=args.attachments,
    )
    return {"message_ts": ts}


class MeArgs(Args):
    channel: str
    text: str = ""


@method("chat.meMessage", MeArgs, tier="tier3", writes=True)
async def me_message(ctx: Context, args: MeArgs) -> dict[str, Any]:
    """A ``me_message`` ("/me waves"): a message with that subtype."""
    channel, message = await messages.post_message(
        ctx.services.db, ctx.actor, args.channel, text=args.text,
        max_chars=ctx.services.settings.api.max_text_chars, subtype="me_message",
    )
    return {"channel": channel, "ts": message["ts"]}


class PermalinkArgs(Args):
    channel: str
    message_ts: str = ""


@method("chat.getPermalink", PermalinkArgs, tier="tier4")
async def get_permalink(ctx: Context, args: PermalinkArgs) -> dict[str, Any]:
    """Slack's permalink of a message the caller may see: ``…/archives/<C>/p<ts without the dot>``
    (a reply's names its thread)."""
    ts = ts_or(args.message_ts, "message_not_found")
    async with ctx.services.db.read() as conn:
        row = await messages.readable_message(conn, ctx.actor, args.channel, ts)
    shown = format_ts(row["ts"])
    link = f"https://{ctx.actor.domain}.cellchat.local/archives/{args.channel}/p{shown.replace('.', '')}"
    if is_reply(row) and row["thread_ts"] is not None:
        link += f"?thread_ts={format_ts(row['thread_ts'])}&cid={args.channel}"
    return {"channel": args.channel, "permalink": link}
