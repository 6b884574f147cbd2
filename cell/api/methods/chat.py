"""``chat.*``."""

from __future__ import annotations

from typing import Annotated, Any

from cell.actions import messages
from cell.api.methods.conversations import ts_arg
from cell.api.registry import Args, Context, JsonField, method


class PostArgs(Args):
    channel: str
    text: str = ""
    thread_ts: str | None = None
    reply_broadcast: bool = False
    client_msg_id: str | None = None
    blocks: Annotated[list[Any] | None, JsonField] = None
    attachments: Annotated[list[Any] | None, JsonField] = None


@method("chat.postMessage", PostArgs, tier="post", writes=True)
async def post_message(ctx: Context, args: PostArgs) -> dict[str, Any]:
    channel, message = await messages.post_message(
        ctx.services.db, ctx.actor, args.channel,
        text=args.text, max_chars=ctx.services.settings.api.max_text_chars,
        thread_ts=ts_arg(args.thread_ts, "thread_ts"), reply_broadcast=args.reply_broadcast,
        client_msg_id=args.client_msg_id or None, blocks=args.blocks, attachments=args.attachments,
    )
    return {"channel": channel, "ts": message["ts"], "message": message}
