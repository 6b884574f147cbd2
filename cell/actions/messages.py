"""Posting, editing, deleting and reading messages and threads.

Every write takes its locks in one order, so that writers never deadlock:

1. the channel row (``FOR UPDATE`` when a ts is assigned, ``FOR SHARE`` otherwise:
   the archived flag cannot change under a write);
2. the thread root's message row;
3. the message's own row.

A reply's ``thread_ts`` never changes, so finding a reply's root needs no lock.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from cell.actions.access import channel_type, visible_channel, writable_channel
from cell.actions.auth import Actor
from cell.domain import channels as channel_domain
from cell.domain.audience import Audience
from cell.domain.mentions import parse_mentions
from cell.domain.messages import group_reactions, is_reply, root_ts, to_slack
from cell.domain.rows import ChannelRow, MessageRow
from cell.domain.ts import format_ts
from cell.errors import CellError
from cell.store import channels, holds, messages, notify, outbox
from cell.store.db import Conn, Database

MAX_TS = 2**62


class _Duplicate(Exception):
    """A concurrent retry won the ``client_msg_id``: roll back and answer with its message."""


def _now_us() -> int:
    return time.time_ns() // 1000


MAX_BLOCKS = 50  # Slack's caps
MAX_ATTACHMENTS = 100


def _check_content(text: str, blocks: list[Any] | None, attachments: list[Any] | None, max_chars: int) -> None:
    if not text and not blocks and not attachments:
        raise CellError("no_text")
    if len(text) > max_chars:
        raise CellError("msg_too_long")
    if blocks:
        if len(blocks) > MAX_BLOCKS:
            raise CellError("invalid_blocks", detail=f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
        if not all(isinstance(block, dict) and isinstance(block.get("type"), str) for block in blocks):
            raise CellError("invalid_blocks", detail="each block must be an object with a type")
    if attachments:
        if len(attachments) > MAX_ATTACHMENTS:
            raise CellError("too_many_attachments")
        if not all(isinstance(attachment, dict) for attachment in attachments):
            raise CellError("invalid_attachments", detail="each attachment must be an object")


def _message_event(channel: ChannelRow, subtype: str | None, /, **fields: Any) -> dict[str, Any]:
    """A Slack RTM ``message`` event (``message_changed``, ``message_deleted``, ...) for ``channel``."""
    now = event_ts()
    event: dict[str, Any] = {"type": "message"}
    if subtype is not None:
        event.update({"subtype": subtype, "hidden": True, "ts": now})
    event.update({"channel": channel["channel_id"], "channel_type": channel_type(channel["kind"]),
                  "event_ts": now, **fields})
    return event


async def with_reactions(conn: Conn, row: MessageRow, *, full: bool = False) -> dict[str, Any]:
    """The Slack shape of one message with its reactions (every reacting user if ``full``)."""
    rows = await messages.reactions_for(conn, row["workspace_id"], row["channel_id"], [row["ts"]])
    grouped = group_reactions(rows, max_users=None) if full else group_reactions(rows)
    return to_slack(row, grouped.get(row["ts"]))


async def _lock_root(conn: Conn, actor: Actor, channel_id: str, target: MessageRow) -> MessageRow | None:
    """The (locked, fresh) root of the thread ``target`` belongs to; None if it is gone."""
    return await messages.get(conn, actor.workspace_id, channel_id, root_ts(target), lock="update")


async def attachable_message(conn: Conn, actor: Actor, channel_id: str, ts: int) -> tuple[ChannelRow, MessageRow]:
    """``(channel, message)`` for attaching a reaction or a pin: the actor may write to the
    channel, and the message (``message_not_found``) stays until the transaction ends."""
    channel = await writable_channel(conn, actor, channel_id, lock="share")
    row = await messages.get(conn, actor.workspace_id, channel_id, ts, lock="key_share")
    if row is None:
        raise CellError("message_not_found")
    return channel, row


async def readable_message(conn: Conn, actor: Actor, channel_id: str, ts: int) -> MessageRow:
    """A message of a channel the actor may see (``channel_not_found``, ``message_not_found``)."""
    await visible_channel(conn, actor, channel_id)
    row = await messages.get(conn, actor.workspace_id, channel_id, ts)
    if row is None:
        raise CellError("message_not_found")
    return row


def event_ts() -> str:
    """A fresh ``event_ts`` for a real-time event."""
    return format_ts(_now_us())


def _retried(found: MessageRow, actor: Actor, channel_id: str) -> tuple[str, dict[str, Any]]:
    # The id is unique per workspace; only the same person's retry into the same channel may
    # see the message, anything else must neither read it nor post a second copy.
    if found["user_id"] != actor.user_id or found["channel_id"] != channel_id:
        raise CellError("invalid_arguments", detail="client_msg_id is already used by another message")
    return found["channel_id"], to_slack(found)


async def post_message(
    db: Database,
    actor: Actor,
    channel_id: str,
    *,
    text: str,
    max_chars: int,
    thread_ts: int | None = None,
    reply_broadcast: bool = False,
    client_msg_id: str | None = None,
    blocks: list[Any] | None = None,
    attachments: list[Any] | None = None,
    broadcast_limit: int = 0,
    confirm_broadcast: bool = False,
    subtype: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Commit a message (its mentions and outbox events) and return ``(channel_id, slack message)``.

    Durable before it returns. The same ``client_msg_id`` always yields the first message,
    however many retries race (the unique index decides). ``thread_ts`` may name the root or
    any reply of a thread: the reply joins the root's thread (``thread_not_found`` if there is
    no such message). ``reply_broadcast`` also shows the reply in channel history.
    ``broadcast_limit`` > 0: an ``@here``/``@channel``/``@everyone`` in a channel of more members
    is refused (``broadcast_confirmation_required``, nothing written) unless ``confirm_broadcast``.
    """
    _check_content(text, blocks, attachments, max_chars)
    if client_msg_id is not None:
        async with db.read() as conn:
            found = await messages.by_client_msg_id(conn, actor.workspace_id, client_msg_id)
        if found is not None:
            return _retried(found, actor, channel_id)
    try:
        async with db.transaction() as conn:
            message = await post_in(conn, actor, channel_id, text=text, thread_ts=thread_ts,
                                    reply_broadcast=reply_broadcast, client_msg_id=client_msg_id,
                                    blocks=blocks, attachments=attachments,
                                    broadcast_limit=0 if confirm_broadcast else broadcast_limit, subtype=subtype)
    except _Duplicate:
        async with db.read() as conn:
            found = await messages.by_client_msg_id(conn, actor.workspace_id, client_msg_id or "")
        assert found is not None
        return _retried(found, actor, channel_id)
    return channel_id, message


async def _check_broadcast(conn: Conn, actor: Actor, channel_id: str, broadcast: str, limit: int) -> None:
    """Refuse a broadcast to more than ``limit`` members unconfirmed (one count on the members' primary key,
    only for messages that broadcast), as Slack's and Mattermost's clients ask before notifying many."""
    members = await channels.count_members(conn, actor.workspace_id, channel_id)
    if members > limit:
        raise CellError("broadcast_confirmation_required",
                        detail=f"<!{broadcast}> would notify {members} members (more than {limit}); "
                               "send it again with confirm_broadcast=true")


FileRenderer = Callable[[Conn, int, int | None], Awaitable[list[dict[str, Any]]]]


async def post_in(
    conn: Conn,
    actor: Actor,
    channel_id: str,
    *,
    text: str,
    thread_ts: int | None = None,
    reply_broadcast: bool = False,
    client_msg_id: str | None = None,
    blocks: list[Any] | None = None,
    attachments: list[Any] | None = None,
    file_ids: list[str] | None = None,
    render_files: FileRenderer | None = None,
    broadcast_limit: int = 0,
    subtype: str | None = None,
) -> dict[str, Any]:
    """Post inside the caller's transaction (``post_message`` is the whole action); returns the
    Slack message. ``file_ids`` attach files: ``render_files(conn, ts, thread_ts)`` records their
    shares once the ts is known and returns their file objects for the message and its event."""
    public_ok = actor.app_id is not None and actor.is_bot and "chat:write.public" in actor.scopes
    channel = await writable_channel(conn, actor, channel_id, lock="update", public_ok=public_ok)
    mentions = parse_mentions(text, blocks)
    if broadcast_limit > 0 and mentions.broadcasts and channel["kind"] in ("public", "private"):
        await _check_broadcast(conn, actor, channel_id, mentions.broadcasts[0], broadcast_limit)
    ts = await channels.lock_next_ts(conn, actor.workspace_id, channel_id, _now_us())
    root: MessageRow | None = None
    if thread_ts is not None:
        target = await messages.get(conn, actor.workspace_id, channel_id, thread_ts)
        root = await _lock_root(conn, actor, channel_id, target) if target else None
        if root is None:
            raise CellError("thread_not_found")
    row = await messages.insert(conn, {
        "workspace_id": actor.workspace_id, "channel_id": channel_id, "ts": ts,
        "user_id": actor.user_id, "bot_id": actor.bot_id, "subtype": subtype,
        "text": text, "blocks": blocks, "attachments": attachments,
        "thread_ts": root["ts"] if root else None,
        "reply_broadcast": root is not None and reply_broadcast,
        "client_msg_id": client_msg_id, "files": file_ids or None, "bot": actor.bot,
    })
    if row is None:
        raise _Duplicate
    await messages.insert_mentions(conn, actor.workspace_id, channel_id, ts, mentions.targets)
    if render_files is not None:
        row = {**row, "files": await render_files(conn, ts, root["ts"] if root else None)}
    message = to_slack(row)
    await outbox.append(conn, actor.workspace_id, Audience.conversation(channel_id), "message", _message_event(
        channel, None, **message, event_ts=message["ts"]
    ))
    if channel["kind"] in ("im", "mpim"):
        # A new message brings a closed DM back to its members' sidebars, as in Slack.
        for member in await channels.reopen_for_members(conn, actor.workspace_id, channel_id):
            event = channel_domain.dm_opened(channel, member)
            await outbox.append(conn, actor.workspace_id, Audience.person(member), event["type"], event)
    if root is not None:
        parent = await messages.add_reply(conn, actor.workspace_id, channel_id, root["ts"], actor.user_id, ts)
        # Thread followers in this same transaction (one statement): the notification worker reads
        # them for this very reply, and the replier's and root author's counts are right at commit.
        await notify.auto_follow(conn, actor.workspace_id, channel_id, root["ts"], replier=actor.user_id,
                                 reply_ts=ts, root_author=root["user_id"], mentioned=list(mentions.users))
        await outbox.append(conn, actor.workspace_id, Audience.conversation(channel_id), "message", _message_event(
            channel, "message_replied", message=await with_reactions(conn, parent)
        ))
    return message


async def update_message(
    db: Database,
    actor: Actor,
    channel_id: str,
    ts: int | None,
    *,
    text: str | None,
    blocks: list[Any] | None,
    attachments: list[Any] | None,
    max_chars: int,
) -> tuple[str, dict[str, Any]]:
    """Edit the caller's own message; returns ``(channel_id, slack message)``.

    Only the author may edit (a bot only its own messages; bookkeeping messages such as
    ``channel_join`` not at all). ``None`` keeps a field as it was; an empty list of blocks or
    attachments removes them. Stamps ``edited``, re-reads the mentions, and emits
    ``message_changed`` with the new ``message`` and the ``previous_message``.
    """
    if text is None and blocks is None and attachments is None:
        raise CellError("no_text")
    if text is not None and len(text) > max_chars:
        raise CellError("msg_too_long")
    async with db.transaction() as conn:
        channel = await writable_channel(conn, actor, channel_id, lock="share")
        old = await messages.get(conn, actor.workspace_id, channel_id, ts, lock="update") if ts is not None else None
        if old is None:
            raise CellError("message_not_found")
        if old["user_id"] != actor.user_id or old["subtype"] is not None:
            raise CellError("cant_update_message")
        new_text = old["text"] if text is None else text
        new_blocks = old["blocks"] if blocks is None else (blocks or None)
        new_attachments = old["attachments"] if attachments is None else (attachments or None)
        _check_content(new_text, new_blocks, new_attachments, max_chars)
        previous = await with_reactions(conn, old)
        # Under a legal hold the text as it was is kept for the compliance export.
        await holds.keep_messages(conn, actor.workspace_id, channel_id, [old["ts"]], state="edited",
                                  changed_by=actor.user_id, revision=_now_us())
        row = await messages.update_content(
            conn, actor.workspace_id, channel_id, old["ts"], text=new_text, blocks=new_blocks,
            attachments=new_attachments, edited_ts=_now_us(), edited_by=actor.user_id,
        )
        await messages.set_mentions(
            conn, actor.workspace_id, channel_id, row["ts"], parse_mentions(new_text, new_blocks).targets
        )
        message = await with_reactions(conn, row)
        await outbox.append(conn, actor.workspace_id, Audience.conversation(channel_id), "message", _message_event(
            channel, "message_changed", message=message, previous_message=previous
        ))
    return channel_id, message


async def delete_message(db: Database, actor: Actor, channel_id: str, ts: int | None) -> None:
    """Delete a message for good: the author or a workspace admin may.

    Under a legal hold (its conversation or its author) it goes for users all the same, but a
    copy is kept for the compliance export (``cell.store.holds``, docs/compliance.md).

    Its reactions, pins and mentions go with it. Deleting a reply recounts its root's
    ``reply_count``, ``reply_users`` and ``latest_reply`` (and emits ``message_changed`` for
    the root). **Deleting a thread's root deletes the whole thread**, replies by other people
    included, and emits one ``message_deleted`` per deleted message, replies first.
    """
    async with db.transaction() as conn:
        channel = await writable_channel(conn, actor, channel_id, lock="share")
        target = await messages.get(conn, actor.workspace_id, channel_id, ts) if ts is not None else None
        if target is None:
            raise CellError("message_not_found")
        if target["user_id"] != actor.user_id and not actor.is_admin:
            raise CellError("cant_delete_message")
        root = await _lock_root(conn, actor, channel_id, target)
        if root is None:
            raise CellError("message_not_found")  # the whole thread went meanwhile
        if is_reply(target):
            target = await messages.get(conn, actor.workspace_id, channel_id, target["ts"], lock="update")
            if target is None:
                raise CellError("message_not_found")
            await holds.keep_messages(conn, actor.workspace_id, channel_id, [target["ts"]], state="deleted",
                                      changed_by=actor.user_id, revision=_now_us())
            gone = [await with_reactions(conn, target)]
            await messages.delete(conn, actor.workspace_id, channel_id, target["ts"])
            previous_root = await with_reactions(conn, root)
            root = await messages.recount_replies(conn, actor.workspace_id, channel_id, root["ts"])
            changed_root: tuple[dict[str, Any], dict[str, Any]] | None = (
                await with_reactions(conn, root), previous_root
            )
        else:
            await holds.keep_messages(conn, actor.workspace_id, channel_id, [root["ts"]], thread=root["ts"],
                                      state="deleted", changed_by=actor.user_id, revision=_now_us())
            gone = [to_slack(r) for r in await messages.delete_replies(conn, actor.workspace_id, channel_id, root["ts"])]
            gone.append(await with_reactions(conn, root))
            await messages.delete(conn, actor.workspace_id, channel_id, root["ts"])
            changed_root = None
        for message in gone:
            await outbox.append(conn, actor.workspace_id, Audience.conversation(channel_id), "message", _message_event(
                channel, "message_deleted", deleted_ts=message["ts"], previous_message=message
            ))
        if changed_root is not None:
            await outbox.append(conn, actor.workspace_id, Audience.conversation(channel_id), "message", _message_event(
                channel, "message_changed", message=changed_root[0], previous_message=changed_root[1]
            ))


def _readable(channel: ChannelRow, actor: Actor) -> None:
    """An app's bot reads the history only of conversations it is in (``not_in_channel``), as in Slack."""
    if actor.app_id is not None and actor.is_bot and not channel["is_member"]:
        raise CellError("not_in_channel")


async def history(
    db: Database,
    actor: Actor,
    channel_id: str,
    *,
    before: int | None,
    after: int,
    limit: int,
) -> tuple[list[dict[str, Any]], bool, int | None]:
    """Up to ``limit`` messages newest first, ``has_more``, and the cursor ts for the next page."""
    async with db.read() as conn:
        _readable(await visible_channel(conn, actor, channel_id), actor)
        rows = await messages.history(
            conn, actor.workspace_id, channel_id,
            before=MAX_TS if before is None else before, after=after, limit=limit + 1,
        )
        has_more = len(rows) > limit
        rows = rows[:limit]
        reactions = group_reactions(
            await messages.reactions_for(conn, actor.workspace_id, channel_id, [r["ts"] for r in rows])
        )
    page = [to_slack(row, reactions.get(row["ts"])) for row in rows]
    return page, has_more, (rows[-1]["ts"] if has_more else None)


async def replies(
    db: Database,
    actor: Actor,
    channel_id: str,
    ts: int | None,
    *,
    after_ts: int | None,
    oldest: int,
    latest: int | None,
    limit: int,
) -> tuple[list[dict[str, Any]], bool, int | None]:
    """A thread: its root first (on the first page only), then replies oldest first.

    ``ts`` may name the root or any reply; a message without replies is a thread of one.
    Replies are those with ``oldest < ts < latest`` (bounds already adjusted for
    ``inclusive``) and, on later pages, after ``after_ts`` (the cursor). Returns the page,
    ``has_more`` and the cursor ts for the next page.
    """
    async with db.read() as conn:
        _readable(await visible_channel(conn, actor, channel_id), actor)
        target = await messages.get(conn, actor.workspace_id, channel_id, ts) if ts is not None else None
        root = target
        if target is not None and is_reply(target):
            root = await messages.get(conn, actor.workspace_id, channel_id, root_ts(target))
        if root is None:
            raise CellError("thread_not_found")
        page: list[MessageRow] = [] if after_ts is not None else [root]
        room = limit - len(page)
        fetched = await messages.replies(
            conn, actor.workspace_id, channel_id, root["ts"],
            after=max(oldest, after_ts or 0), before=MAX_TS if latest is None else latest, limit=room + 1,
        )
        has_more = len(fetched) > room
        page += fetched[:room]
        reactions = group_reactions(
            await messages.reactions_for(conn, actor.workspace_id, channel_id, [r["ts"] for r in page])
        )
    return [to_slack(r, reactions.get(r["ts"])) for r in page], has_more, (page[-1]["ts"] if has_more else None)


async def post_ephemeral(
    db: Database,
    actor: Actor,
    channel_id: str,
    user_id: str,
    *,
    text: str,
    max_chars: int,
    thread_ts: int | None = None,
    blocks: list[Any] | None = None,
    attachments: list[Any] | None = None,
) -> str:
    """A message only ``user_id`` sees, in ``channel_id``: delivered to their connections in real
    time and never stored in history (an outbox event for that person alone). Its ``message_ts``.

    The caller must be able to post there (``not_in_channel``, ``is_archived``) and the person
    must be a member (``user_not_in_channel``).
    """
    _check_content(text, blocks, attachments, max_chars)
    async with db.transaction() as conn:
        channel = await writable_channel(conn, actor, channel_id, lock="share")
        seen = await channels.get_channel_for(conn, actor.workspace_id, channel_id, user_id) \
            if isinstance(user_id, str) and user_id else None
        if seen is None or not seen["is_member"]:
            raise CellError("user_not_in_channel")
        ts = event_ts()
        event: dict[str, Any] = {
            "type": "message", "is_ephemeral": True, "channel": channel_id,
            "channel_type": channel_type(channel["kind"]), "user": actor.user_id, "text": text, "ts": ts,
            "event_ts": ts, "team": actor.workspace_id,
        }
        if actor.bot_id:
            event["bot_id"] = actor.bot_id
        if actor.bot:
            event.update(actor.bot)
        if blocks:
            event["blocks"] = blocks
        if attachments:
            event["attachments"] = attachments
        if thread_ts is not None:
            event["thread_ts"] = format_ts(thread_ts)
        # Not "message": outbox consumers (notifications, events) act on stored messages only.
        await outbox.append(conn, actor.workspace_id, Audience.person(user_id), "message_ephemeral", event)
    return ts
