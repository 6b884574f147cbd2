"""Conversations: channels, DMs and group DMs; who is in them and what they look like.

Every state change commits its outbox events in its own transaction. Each
event states its **audience** (:class:`cell.domain.audience.Audience`), i.e. who
receives it:

- a conversation: that conversation's members;
- a person: only that user's connections. Used for what concerns one
  person's own view: a conversation entering or leaving their sidebar
  (``channel_joined``/``group_joined``/``channel_left``/``group_left``,
  ``im_created``/``mpim_joined``, ``im_open``/``im_close``/``mpim_*``) and their
  read cursor (``channel_marked``/``group_marked``/``im_marked``). A gateway
  learns from these which conversation topics to follow for that user;
- the workspace: everyone in it. Used for public channels' lifecycle
  (``channel_created``/``channel_rename``/``channel_archive``/
  ``channel_unarchive``), since every member of the workspace can see those
  channels. Private channels' lifecycle (``group_*``) goes to their own topic.

Topic and purpose changes are recorded the way Slack does it: as messages in
the channel's history with subtype ``channel_topic``/``channel_purpose``
(``group_*`` for private channels and group DMs) that carry the new ``topic`` or
``purpose``; their outbox ``event_type`` is that subtype and their payload is
the RTM ``message`` event. Clients apply them to the channel they show.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from cell.actions import unreads
from cell.actions.access import visible_channel, writable_channel
from cell.actions.auth import Actor
from cell.domain import channels as domain
from cell.domain import ids, names
from cell.domain import messages as message_domain
from cell.domain.audience import Audience
from cell.domain.rows import ChannelRow
from cell.errors import CellError, SlackErrorCode
from cell.notify import counts as counting
from cell.store import channels, directory, messages, outbox
from cell.store.db import Conn, Database
from cell.store.directory import Conflict

DM_KINDS = ("im", "mpim")


# --- outbox topics -------------------------------------------------------------


async def _to_channel(conn: Conn, row: ChannelRow, event: dict[str, Any]) -> None:
    await outbox.append(conn, row["workspace_id"], Audience.conversation(row["channel_id"]), event["type"], event)


async def _to_user(conn: Conn, workspace_id: str, user_id: str, event: dict[str, Any]) -> None:
    await outbox.append(conn, workspace_id, Audience.person(user_id), event["type"], event)


async def _to_watchers(conn: Conn, row: ChannelRow, event: dict[str, Any]) -> None:
    """A public channel's lifecycle is news for the whole workspace; a private one's for its members."""
    audience = Audience.workspace() if row["kind"] == "public" else Audience.conversation(row["channel_id"])
    await outbox.append(conn, row["workspace_id"], audience, event["type"], event)


def _refuse_dms(row: ChannelRow) -> None:
    if row["kind"] in DM_KINDS:
        raise CellError("method_not_supported_for_channel_type")


def _now_us() -> int:
    return time.time_ns() // 1000


# --- creating and reading --------------------------------------------------------


async def create(db: Database, actor: Actor, name: str, *, is_private: bool) -> dict[str, Any]:
    """A new public or private channel with the creator as its first member."""
    name = names.normalized(name)
    problem = domain.name_error(name)
    if problem:
        raise CellError(problem)
    channel_id = ids.new_id(ids.CHANNEL)
    async with db.transaction() as conn:
        try:
            row = await channels.insert_channel(conn, {
                "workspace_id": actor.workspace_id, "channel_id": channel_id,
                "kind": "private" if is_private else "public", "name": name,
                "creator": actor.user_id, "dm_key": None,
            })
        except Conflict as exc:
            raise CellError("name_taken") from exc
        await channels.add_member(conn, actor.workspace_id, channel_id, actor.user_id)
        row["is_member"] = True
        if not is_private:
            # A private channel's existence is only told to its members.
            await outbox.append(conn, actor.workspace_id, Audience.workspace(), "channel_created",
                                {"type": "channel_created", "channel": {
                                    "id": channel_id, "name": name, "created": row["created"],
                                    "creator": actor.user_id}})
        await _to_user(conn, actor.workspace_id, actor.user_id, domain.you_joined(row))
        await _to_channel(conn, row, domain.member_joined(row, actor.user_id))
    return domain.to_slack(row)


async def info(db: Database, actor: Actor, channel_id: str, *, include_num_members: bool) -> dict[str, Any]:
    """The conversation as the caller sees it; members also get ``last_read`` and unread counts."""
    async with db.read() as conn:
        row = await visible_channel(conn, actor, channel_id)
        if include_num_members:
            row["num_members"] = await channels.count_members(conn, actor.workspace_id, channel_id)
        if row["is_member"]:
            row["unread_count"], row["unread_count_display"] = await channels.unread_counts(
                conn, actor.workspace_id, channel_id, actor.user_id,
                after=row["last_read"] or 0, quiet=domain.QUIET_SUBTYPES,  # a member's is never None
            )
    return domain.to_slack(row, for_user=actor.user_id)


async def list_visible(
    db: Database, actor: Actor, *, types: list[str], exclude_archived: bool, after: str, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the conversations the caller may see, in id order, and the id to continue after.

    Id order (not name order) keeps pages stable while channels are renamed.
    """
    unknown = [t for t in types if t not in domain.LIST_TYPES]
    if unknown:
        raise CellError("invalid_types", detail=f"unknown types: {', '.join(unknown)}")
    kinds = sorted({domain.LIST_TYPES[t] for t in types})
    async with db.read() as conn:
        rows = await channels.list_visible(
            conn, actor.workspace_id, actor.user_id,
            kinds=kinds, exclude_archived=exclude_archived, after=after, limit=limit + 1,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    page = [domain.to_slack(row, for_user=actor.user_id) for row in rows]
    return page, (rows[-1]["channel_id"] if more else None)


async def members(
    db: Database, actor: Actor, channel_id: str, *, after: str, limit: int
) -> tuple[list[str], str | None]:
    """One page of member ids in id order, and the id to continue after."""
    async with db.read() as conn:
        await visible_channel(conn, actor, channel_id)
        page = await channels.member_page(conn, actor.workspace_id, channel_id, after=after, limit=limit + 1)
    more = len(page) > limit
    page = page[:limit]
    return page, (page[-1] if more else None)


# --- membership ------------------------------------------------------------------


async def join(db: Database, actor: Actor, channel_id: str) -> tuple[dict[str, Any], bool]:
    """Join a public channel: ``(channel, already_in_channel)``."""
    async with db.transaction() as conn:
        row = await visible_channel(conn, actor, channel_id, lock="share")
        if row["kind"] != "public":
            # Only members get this far with a private conversation; they are in it already.
            raise CellError("method_not_supported_for_channel_type")
        if row["is_archived"]:
            raise CellError("is_archived")
        added = await channels.add_member(conn, actor.workspace_id, channel_id, actor.user_id)
        row["is_member"] = True
        if added:
            await _to_user(conn, actor.workspace_id, actor.user_id, domain.you_joined(row))
            await _to_channel(conn, row, domain.member_joined(row, actor.user_id))
    return domain.to_slack(row), not added


async def leave(db: Database, actor: Actor, channel_id: str) -> None:
    """Leave a channel. DMs are closed, not left; the last member cannot leave a private channel."""
    async with db.transaction() as conn:
        row = await visible_channel(conn, actor, channel_id, lock="update")
        _refuse_dms(row)
        if domain.is_general(row):
            raise CellError("cant_leave_general")
        if row["is_archived"]:
            raise CellError("is_archived")
        if not row["is_member"]:
            raise CellError("not_in_channel")
        if row["kind"] == "private" and await channels.count_members(conn, actor.workspace_id, channel_id) == 1:
            raise CellError("last_member")
        await channels.remove_member(conn, actor.workspace_id, channel_id, actor.user_id)
        await _to_channel(conn, row, domain.member_left(row, actor.user_id))
        await _to_user(conn, actor.workspace_id, actor.user_id, domain.you_left(row, actor.user_id))


async def _unknown_users(conn: Conn, workspace_id: str, user_ids: list[str]) -> list[str]:
    """Those of ``user_ids`` that are not active people of this workspace (other workspaces' too)."""
    unknown = [u for u in user_ids if not ids.is_id(u, ids.USER)]
    candidates = [u for u in user_ids if u not in unknown]
    if await directory.count_users(conn, workspace_id, candidates) == len(candidates):
        return unknown  # one query in the usual case; only a failing call looks person by person
    for user_id in candidates:
        user = await directory.get_user(conn, workspace_id, user_id)
        if user is None or user["deleted"]:
            unknown.append(user_id)
    return unknown


async def invite(
    db: Database, actor: Actor, channel_id: str, user_ids: list[str], *, force: bool
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Add people to a channel: ``(channel, per-user errors skipped under force)``.

    Without ``force`` any unusable id (unknown, or already a member) fails the
    whole call and nothing changes; with it, the usable ones are added.
    """
    user_ids = list(dict.fromkeys(user_ids))
    if not user_ids:
        raise CellError("no_user")
    async with db.transaction() as conn:
        row = await writable_channel(conn, actor, channel_id, lock="share")
        _refuse_dms(row)
        if actor.user_id in user_ids:
            raise CellError("cant_invite_self")
        failed: dict[str, SlackErrorCode] = dict.fromkeys(
            await _unknown_users(conn, actor.workspace_id, user_ids), "user_not_found"
        )
        for user_id in user_ids:
            if user_id not in failed and await channels.is_member(conn, actor.workspace_id, channel_id, user_id):
                failed[user_id] = "already_in_channel"
        errors = [{"user": u, "ok": False, "error": code} for u, code in failed.items()]
        usable = [u for u in user_ids if u not in failed]
        if failed and (not force or not usable):
            raise CellError(next(iter(failed.values())), errors=errors)
        for user_id in await channels.add_members(conn, actor.workspace_id, channel_id, usable):
            await _to_user(conn, actor.workspace_id, user_id, domain.you_joined(row))
            await _to_channel(conn, row, domain.member_joined(row, user_id, inviter=actor.user_id))
    return domain.to_slack(row, for_user=actor.user_id), errors


async def kick(db: Database, actor: Actor, channel_id: str, user_id: str) -> None:
    """Remove someone else from a channel the caller is in."""
    async with db.transaction() as conn:
        row = await visible_channel(conn, actor, channel_id, lock="share")
        _refuse_dms(row)
        if await _unknown_users(conn, actor.workspace_id, [user_id]):
            raise CellError("user_not_found")
        if user_id == actor.user_id:
            raise CellError("cant_kick_self")
        if domain.is_general(row):
            raise CellError("cant_kick_from_general")
        if row["is_archived"]:
            raise CellError("is_archived")
        if not row["is_member"]:
            raise CellError("not_in_channel")
        if not await channels.remove_member(conn, actor.workspace_id, channel_id, user_id):
            raise CellError("not_in_channel")
        await _to_channel(conn, row, domain.member_left(row, user_id))
        await _to_user(conn, actor.workspace_id, user_id, domain.you_left(row, actor.user_id))


# --- the channel itself ----------------------------------------------------------


async def set_archived(db: Database, actor: Actor, channel_id: str, *, archive: bool) -> None:
    """Archive (read-only, members kept) or unarchive a channel the caller is in."""
    async with db.transaction() as conn:
        row = await visible_channel(conn, actor, channel_id, lock="update")
        _refuse_dms(row)
        if archive and domain.is_general(row):
            raise CellError("cant_archive_general")
        if row["is_archived"] == archive:
            raise CellError("already_archived" if archive else "not_archived")
        if not row["is_member"]:
            raise CellError("not_in_channel")
        await channels.set_archived(conn, actor.workspace_id, channel_id, archive)
        await _to_watchers(conn, row, domain.archived(row, actor.user_id, archive=archive))


async def rename(db: Database, actor: Actor, channel_id: str, name: str) -> dict[str, Any]:
    """Rename a channel the caller is in. ``#general`` keeps its name: it is how the cell finds it."""
    async with db.transaction() as conn:
        row = await writable_channel(conn, actor, channel_id, lock="update")
        _refuse_dms(row)
        if domain.is_general(row):
            raise CellError("not_authorized", detail="#general cannot be renamed")
        name = names.normalized(name)
        problem = domain.name_error(name)
        if problem:
            raise CellError(problem)
        if name != row["name"]:
            try:
                renamed = await channels.rename(conn, actor.workspace_id, channel_id, name)
            except Conflict as exc:
                raise CellError("name_taken") from exc
            row.update(renamed)
            await _to_watchers(conn, row, domain.renamed(row))
    return domain.to_slack(row, for_user=actor.user_id)


async def set_topic_or_purpose(
    db: Database, actor: Actor, channel_id: str, field: Literal["topic", "purpose"], value: str
) -> dict[str, Any]:
    """Set a channel's topic or purpose and record it as a ``*_topic``/``*_purpose`` message."""
    async with db.transaction() as conn:
        row = await writable_channel(conn, actor, channel_id, lock="update")
        if row["kind"] == "im":
            raise CellError("method_not_supported_for_channel_type")
        if len(value) > domain.MAX_TOPIC:
            raise CellError("too_long")
        now_us = _now_us()
        row.update(await channels.set_topic_or_purpose(
            conn, actor.workspace_id, channel_id, field, value, actor.user_id, now_us // 1_000_000
        ))
        subtype = domain.topic_subtype(row["kind"], field)
        ts = await channels.lock_next_ts(conn, actor.workspace_id, channel_id, now_us)
        message = await messages.insert(conn, {
            "workspace_id": actor.workspace_id, "channel_id": channel_id, "ts": ts,
            "user_id": actor.user_id, "bot_id": actor.bot_id, "subtype": subtype,
            "text": domain.topic_text(actor.user_id, field, value), "blocks": None, "attachments": None,
            "thread_ts": None, "reply_broadcast": False, "client_msg_id": None,
        })
        assert message is not None
        await outbox.append(conn, actor.workspace_id, Audience.conversation(channel_id), subtype, {
            **message_domain.to_slack(message), field: value, "channel": channel_id,
            "channel_type": domain.channel_type(row["kind"]),
        })
    return domain.to_slack(row, for_user=actor.user_id)


async def mark(db: Database, actor: Actor, channel_id: str, ts: int) -> None:
    """Move the caller's read cursor to ``ts`` (earlier too: that marks messages unread again)."""
    async with db.transaction() as conn:
        row = await visible_channel(conn, actor, channel_id)
        if not await channels.set_last_read(conn, actor.workspace_id, channel_id, actor.user_id, ts):
            raise CellError("not_in_channel")
        unread, display = await channels.unread_counts(
            conn, actor.workspace_id, channel_id, actor.user_id, after=ts, quiet=domain.QUIET_SUBTYPES
        )
        # Every device of the reader: the conversation's counts and the badge as they are now
        # (docs/notifications.md).
        sidebar = await counting.sidebar(conn, actor.workspace_id, actor.user_id)
        mentions = next((counting.conversation_entry(r)["mention_count"] for r in sidebar.conversations
                         if r["channel_id"] == channel_id), 0)
        await _to_user(conn, actor.workspace_id, actor.user_id, domain.marked(row, ts, unread, display, mentions))
        await unreads.tell_badge(conn, actor.workspace_id, actor.user_id, sidebar)


# --- direct messages -------------------------------------------------------------


async def open_dm(
    db: Database, actor: Actor, *, user_ids: list[str] | None, channel_id: str | None
) -> tuple[dict[str, Any], bool]:
    """The caller's DM (one other person, or none: the DM with yourself) or group DM (two to eight
    others), created on first use: ``(conversation, was already open)``.

    The same people always get the same conversation: the unique ``dm_key``
    index decides between racing opens. With ``channel_id`` an existing DM is
    reopened instead.
    """
    row, already_open = await _open_dm(db, actor, user_ids=user_ids, channel_id=channel_id)
    return domain.to_slack(row, for_user=actor.user_id), already_open


async def _open_dm(
    db: Database, actor: Actor, *, user_ids: list[str] | None, channel_id: str | None
) -> tuple[ChannelRow, bool]:
    if channel_id:
        async with db.transaction() as conn:
            row = await visible_channel(conn, actor, channel_id)
            _require_dm(row)
            return row, not await _reopen(conn, actor, row)
    if not user_ids:
        raise CellError("users_list_not_supplied")
    others = [u for u in dict.fromkeys(user_ids) if u != actor.user_id]
    if len(others) > domain.MAX_DM_OTHERS:
        raise CellError("too_many_users")
    key = domain.dm_key([actor.user_id, *others])
    kind = domain.dm_kind(key)
    async with db.transaction() as conn:
        people = []
        for user_id in others:
            person = await directory.get_user(conn, actor.workspace_id, user_id) if ids.is_id(user_id, ids.USER) else None
            if person is None or person["deleted"]:
                raise CellError("user_not_found")
            people.append(person)
        name = key if kind == "im" else domain.mpim_name([actor.user_name, *(p["name"] for p in people)])
        created = await channels.insert_dm(conn, {
            "workspace_id": actor.workspace_id, "channel_id": ids.new_id(ids.DM if kind == "im" else ids.GROUP_DM),
            "kind": kind, "name": name, "creator": actor.user_id, "dm_key": key,
        })
        if created is None:
            existing = await channels.find_dm(conn, actor.workspace_id, key, actor.user_id)
            assert existing is not None, "a dm_key conflict without a row"
            return existing, not await _reopen(conn, actor, existing)
        row = created
        member_ids = key.split(",")
        await channels.add_members(conn, actor.workspace_id, row["channel_id"], member_ids)
        for member in member_ids:
            event = (domain.im_created(row, actor.user_id, member) if kind == "im" else domain.mpim_joined(row))
            await _to_user(conn, actor.workspace_id, member, event)
        if kind == "mpim":
            await _to_user(conn, actor.workspace_id, actor.user_id, domain.dm_opened(row, actor.user_id))
    return {**row, "is_member": True, "is_open": True, "last_read": 0}, False


def _require_dm(row: ChannelRow) -> None:
    if row["kind"] not in DM_KINDS:
        raise CellError("method_not_supported_for_channel_type")


async def _reopen(conn: Conn, actor: Actor, row: ChannelRow) -> bool:
    """Put the DM back in the caller's sidebar; True when it was closed."""
    changed = await channels.set_open(conn, actor.workspace_id, row["channel_id"], actor.user_id, True)
    row["is_open"] = True
    if changed:
        await _to_user(conn, actor.workspace_id, actor.user_id, domain.dm_opened(row, actor.user_id))
    return changed


async def close_dm(db: Database, actor: Actor, channel_id: str) -> bool:
    """Take a DM out of the caller's sidebar (nothing else changes); False when it was closed already."""
    async with db.transaction() as conn:
        row = await visible_channel(conn, actor, channel_id)
        _require_dm(row)
        changed = await channels.set_open(conn, actor.workspace_id, channel_id, actor.user_id, False)
        if changed:
            await _to_user(conn, actor.workspace_id, actor.user_id, domain.dm_closed(row, actor.user_id))
    return changed
