"""Shared set-up for the message-family tests (chat, threads, reactions, pins).

Everything goes through the real cell over HTTP (the official ``slack_sdk``);
the database is only read, to prove what was (or was not) written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.support.cells import Person, RunningCell, Workspace, running_cell
from tests.support.infra import Infra

SCENE_CLIENT_MSG_ID = "5f0c0a4e-0000-4000-8000-00000000a11c"

# Every table a message-family call may write to.
TABLES = ("messages", "reactions", "pins", "mentions", "outbox", "channels", "channel_members")


def web(cell: RunningCell, person: Person) -> WebClient:
    return WebClient(token=person.token, base_url=cell.api)


def aweb(cell: RunningCell, person: Person) -> AsyncWebClient:
    return AsyncWebClient(token=person.token, base_url=cell.api)


def error_of(call: Callable[[], object]) -> str:
    """The Slack error code a call through slack_sdk answers with (it must fail)."""
    with pytest.raises(SlackApiError) as raised:
        call()
    code: str = raised.value.response["error"]
    return code


def top_level(client: WebClient, channel: str) -> list[dict[str, Any]]:
    """Channel history without bookkeeping messages (joins, archive notices), newest first."""
    return [m for m in client.conversations_history(channel=channel)["messages"]
            if m.get("subtype") in (None, "thread_broadcast")]


def snapshot(cell: RunningCell, workspace_id: str | None = None) -> dict[str, list[str]]:
    """Every row of the message-family tables (of one workspace, if given), as sorted JSON text."""
    found: dict[str, list[str]] = {}
    with psycopg.connect(cell.dsn) as conn:
        for table in TABLES:
            query = f"SELECT to_jsonb(t)::text FROM {table} t"
            params: tuple[str, ...] = ()
            if workspace_id is not None:
                query += " WHERE workspace_id = %s"
                params = (workspace_id,)
            found[table] = sorted(row[0] for row in conn.execute(query, params))
    return found


def outbox(cell: RunningCell, *, after: int = 0, event_type: str | None = None) -> list[dict[str, Any]]:
    """Outbox rows ``{id, channel_id, event_type, payload}`` after id ``after``, in id order."""
    with psycopg.connect(cell.dsn) as conn:
        rows = conn.execute(
            "SELECT id, channel_id, event_type, payload FROM outbox WHERE id > %s ORDER BY id", (after,)
        ).fetchall()
    events = [{"id": r[0], "channel_id": r[1], "event_type": r[2], "payload": r[3]} for r in rows]
    return [e for e in events if event_type is None or e["event_type"] == event_type]


def last_outbox_id(cell: RunningCell) -> int:
    with psycopg.connect(cell.dsn) as conn:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()
    assert row is not None
    return int(row[0])


def mentions(cell: RunningCell, channel_id: str, ts: str) -> set[str]:
    seconds, micros = ts.split(".")
    with psycopg.connect(cell.dsn) as conn:
        rows = conn.execute(
            "SELECT target FROM mentions WHERE channel_id = %s AND ts = %s",
            (channel_id, int(seconds) * 1_000_000 + int(micros)),
        ).fetchall()
    return {row[0] for row in rows}


def posted_rows(cell: RunningCell, channel_id: str) -> int:
    """How many messages people posted (no bookkeeping subtypes) the channel's table holds."""
    with psycopg.connect(cell.dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM messages WHERE channel_id = %s AND subtype IS NULL", (channel_id,)
        ).fetchone()
    assert row is not None
    return int(row[0])


@dataclass
class Scene:
    """Two workspaces and the conversations the error and isolation tests need.

    In workspace ``ws``: the owner (a workspace admin), ``alice`` and ``bob`` (plain members),
    a bot (member of #general); ``general`` holds a message by alice (``msg``) with a reply by
    bob (``reply``) (``msg`` was sent with ``SCENE_CLIENT_MSG_ID``), a pinned message by alice with alice's :wave: (``pinned``), and a message
    by the bot (``bot_msg``). ``secret`` is the owner's private channel (alice is a member,
    bob is not) with ``secret_msg``; ``attic`` is archived (``attic_msg``, alice is a member);
    ``club`` is public and bob is not in it (``club_msg``). Workspace ``other`` has its own
    #general with ``other_msg``.
    """

    cell: RunningCell
    ws: Workspace
    alice: Person
    bob: Person
    bot: Person
    other: Workspace
    ts: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)

    @property
    def owner(self) -> Person:
        return self.ws.owner

    def client(self, person: Person) -> WebClient:
        return web(self.cell, person)


def build_scene(cell: RunningCell) -> Scene:
    ws, other = cell.workspace("acme"), cell.workspace("globex")
    alice, bob = cell.user(ws, "alice"), cell.user(ws, "bob")
    bot, _ = cell.bot(ws, "helper")
    scene = Scene(cell, ws, alice, bob, bot, other)
    owner_c, alice_c, bot_c = web(cell, ws.owner), web(cell, alice), web(cell, bot)
    bot_c.conversations_join(channel=ws.general)
    general = ws.general
    scene.channels["general"] = general
    scene.ts["msg"] = alice_c.chat_postMessage(channel=general, text="hello", client_msg_id=SCENE_CLIENT_MSG_ID)["ts"]
    scene.ts["reply"] = web(cell, bob).chat_postMessage(channel=general, text="hi", thread_ts=scene.ts["msg"])["ts"]
    scene.ts["pinned"] = alice_c.chat_postMessage(channel=general, text="read me")["ts"]
    alice_c.pins_add(channel=general, timestamp=scene.ts["pinned"])
    alice_c.reactions_add(channel=general, timestamp=scene.ts["pinned"], name="wave")
    scene.ts["bot_msg"] = bot_c.chat_postMessage(channel=general, text="beep")["ts"]

    secret = owner_c.conversations_create(name="secret", is_private=True)["channel"]["id"]
    owner_c.conversations_invite(channel=secret, users=alice.id)
    scene.channels["secret"] = secret
    scene.ts["secret_msg"] = owner_c.chat_postMessage(channel=secret, text="classified")["ts"]

    attic = owner_c.conversations_create(name="attic")["channel"]["id"]
    owner_c.conversations_invite(channel=attic, users=alice.id)
    scene.channels["attic"] = attic
    scene.ts["attic_msg"] = alice_c.chat_postMessage(channel=attic, text="dusty")["ts"]
    owner_c.conversations_archive(channel=attic)

    club = owner_c.conversations_create(name="club")["channel"]["id"]
    scene.channels["club"] = club
    scene.ts["club_msg"] = owner_c.chat_postMessage(channel=club, text="members only talk")["ts"]

    scene.channels["other"] = other.general
    scene.ts["other_msg"] = web(cell, other.owner).chat_postMessage(channel=other.general, text="theirs")["ts"]
    return scene


@contextmanager
def shared_scene(infra: Infra) -> Iterator[Scene]:
    """One cell and scene for a module of read-only checks (rate limits off: many calls, one token).

    Sound only for calls that must change nothing: each test proves that with ``snapshot``.
    """
    with running_cell(infra, rate_limits={"enabled": False}) as cell:
        yield build_scene(cell)
