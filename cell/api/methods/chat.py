"""``chat.postMessage``, ``chat.update``, ``chat.delete``."""

from __future__ import annotations

from typing import Annotated, Any

from cell.actions import messages
from cell.api.arguments import JsonField, ts_or_none
from cell.api.registry import Args, Context, method
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


@method("chat.postMessage", PostArgs, tier="post", writes=True)
async def post_message(ctx: Context, args: PostArgs) -> dict[str, Any]:
    thread_ts = ts_or_none(args.thread_ts) if args.thread_ts else None
    if args.thread_ts and thread_ts is None:
        raise CellError("invalid_arguments", detail="thread_ts must be a ts like 1700000000.000100")
    channel, message = await messages.post_message(
        ctx.services.db, ctx.actor, args.channel,
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
