"""The notification worker's read interface (cell/notify/prefs.py) over a real cell's database:
effective prefs of many people in one call, thread followers, the badge."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from slack_sdk import WebClient

from cell.notify import prefs
from cell.notify.dnd import Dnd
from cell.store.db import Database
from cell.store.tenancy import TENANT_TABLES
from tests.support.cells import Person, RunningCell, Workspace, running_cell
from tests.support.infra import Infra

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def shared(infra: Infra) -> Iterator[tuple[RunningCell, Workspace, Person, Person]]:
    with running_cell(infra) as cell:
        ws = cell.workspace()
        yield cell, ws, cell.user(ws, "bob"), cell.user(ws, "carol")


@pytest.fixture
async def db(shared: tuple[RunningCell, Workspace, Person, Person]) -> AsyncIterator[Database]:
    database = Database(shared[0].dsn, min_size=1, max_size=2)
    await database.open()
    yield database
    await database.close()


async def test_load_gives_everyones_effective_prefs_at_once(
    shared: tuple[RunningCell, Workspace, Person, Person], db: Database
) -> None:
    """10,000 people: the defaults for those without prefs, global prefs, then the conversation's
    own (level, mute, @channel suppression) over them, the channel's urgency and each DND."""
    cell, ws, bob, carol = shared
    snooze = datetime(2030, 1, 1, tzinfo=UTC)
    with psycopg.connect(cell.dsn, autocommit=True) as conn:
        with conn.cursor().copy("COPY users (workspace_id, user_id, email, name) FROM STDIN") as copy:
            for n in range(10_000):
                copy.write_row((ws.id, f"UMANY{n:05d}", f"many{n}@x.example.com", f"many{n}"))
        conn.execute("UPDATE users SET tz = 'Asia/Tokyo' WHERE workspace_id = %s AND user_id = %s", (ws.id, bob.id))
        conn.execute("INSERT INTO notify_prefs (workspace_id, user_id, level, highlight_words, dnd_enabled,"
                     " dnd_start_minute, dnd_end_minute, snooze_until) VALUES (%s, %s, 'all', '{deploy,Ops}',"
                     " true, 1380, 420, %s)", (ws.id, bob.id, snooze))
        conn.execute("INSERT INTO notify_prefs (workspace_id, user_id, level) VALUES (%s, %s, 'nothing')",
                     (ws.id, carol.id))
        conn.execute("INSERT INTO notify_channel_prefs (workspace_id, channel_id, user_id, level, muted,"
                     " suppress_broadcasts) VALUES (%s, %s, %s, 'mentions', true, true)", (ws.id, ws.general, bob.id))
        conn.execute("UPDATE channels SET is_urgent = true WHERE workspace_id = %s AND channel_id = %s",
                     (ws.id, ws.general))
    people = [f"UMANY{n:05d}" for n in range(10_000)] + [bob.id, carol.id, "UNOBODY00"]
    loaded = await prefs.load(db, ws.id, ws.general, people)
    assert len(loaded) == 10_002  # the unknown id is left out
    assert loaded["UMANY04242"] == prefs.EffectivePrefs(urgent=True)
    assert loaded[bob.id] == prefs.EffectivePrefs(
        level="mentions", muted=True, keywords=("deploy", "Ops"), suppress_broadcasts=True, urgent=True,
        dnd=Dnd(tz="Asia/Tokyo", enabled=True, start_minute=1380, end_minute=420, snooze_until=snooze),
    )
    assert loaded[carol.id].level == "nothing"
    assert prefs.dnd_active(loaded[bob.id], datetime(2029, 6, 1, tzinfo=UTC)) is True
    assert prefs.dnd_active(loaded[carol.id], datetime(2029, 6, 1, tzinfo=UTC)) is False


async def test_thread_followers_are_the_author_repliers_and_the_mentioned(
    shared: tuple[RunningCell, Workspace, Person, Person], db: Database
) -> None:
    """A thread is followed by its root's author, each replier and each person a reply mentions;
    not by other members."""
    cell, ws, bob, carol = shared
    dave = cell.user(ws, "dave")
    owner = WebClient(token=ws.owner.token, base_url=cell.api)
    root = owner.chat_postMessage(channel=ws.general, text="plan")["ts"]
    WebClient(token=bob.token, base_url=cell.api).chat_postMessage(
        channel=ws.general, thread_ts=root, text=f"asking <@{carol.id}>")
    thread_ts = int(root.replace(".", ""))
    assert await prefs.thread_followers(db, ws.id, ws.general, thread_ts) == {ws.owner.id, bob.id, carol.id}
    assert dave.id not in await prefs.thread_followers(db, ws.id, ws.general, thread_ts)


async def test_the_badge_counts_mentions_and_dms_but_not_muted_ones(
    shared: tuple[RunningCell, Workspace, Person, Person], db: Database
) -> None:
    """Unread mentions plus unread DM messages make the badge; a muted conversation adds nothing,
    and reading clears its part."""
    cell, ws, _, _ = shared
    erin = cell.user(ws, "erin")
    owner = WebClient(token=ws.owner.token, base_url=cell.api)
    owner.chat_postMessage(channel=ws.general, text=f"hi <@{erin.id}>")
    quiet = owner.chat_postMessage(channel=ws.general, text="no mention")["ts"]
    dm = owner.conversations_open(users=erin.id)["channel"]["id"]
    owner.chat_postMessage(channel=dm, text="one")
    owner.chat_postMessage(channel=dm, text="two")
    assert await prefs.badge(db, ws.id, erin.id) == 3
    with psycopg.connect(cell.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO notify_channel_prefs (workspace_id, channel_id, user_id, muted)"
                     " VALUES (%s, %s, %s, true)", (ws.id, dm, erin.id))
    assert await prefs.badge(db, ws.id, erin.id) == 1
    WebClient(token=erin.token, base_url=cell.api).conversations_mark(channel=ws.general, ts=quiet)
    assert await prefs.badge(db, ws.id, erin.id) == 0


def _rows(dsn: str, workspace_id: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {table: conn.execute(f"SELECT count(*) FROM {table} WHERE workspace_id = %s",
                                    (workspace_id,)).fetchone()[0]  # type: ignore[index]
                for table in TENANT_TABLES}


async def test_a_post_writes_nothing_per_member(
    shared: tuple[RunningCell, Workspace, Person, Person], db: Database
) -> None:
    """A message to a channel of 2,000 members adds one message row (and its mention), and a reply
    one follower row per follower, not a row per member; their unreads are still counted."""
    cell, _, _, _ = shared
    ws = cell.workspace("big")
    owner = WebClient(token=ws.owner.token, base_url=cell.api)
    with psycopg.connect(cell.dsn, autocommit=True) as conn:
        with conn.cursor().copy("COPY users (workspace_id, user_id, email, name) FROM STDIN") as copy:
            for n in range(2_000):
                copy.write_row((ws.id, f"UBIG{n:06d}", f"big{n}@x.example.com", f"big{n}"))
        with conn.cursor().copy("COPY channel_members (workspace_id, channel_id, user_id) FROM STDIN") as copy:
            for n in range(2_000):
                copy.write_row((ws.id, ws.general, f"UBIG{n:06d}"))
    before = _rows(cell.dsn, ws.id)
    root = owner.chat_postMessage(channel=ws.general, text="<@UBIG001999> hello")["ts"]
    after_post = _rows(cell.dsn, ws.id)
    owner.chat_postMessage(channel=ws.general, thread_ts=root, text="and a reply")
    after_reply = _rows(cell.dsn, ws.id)
    grew = {t: after_post[t] - before[t] for t in TENANT_TABLES if after_post[t] != before[t]}
    grew_reply = {t: after_reply[t] - after_post[t] for t in TENANT_TABLES if after_reply[t] != after_post[t]}
    assert (grew, grew_reply) == ({"messages": 1, "mentions": 1}, {"messages": 1, "thread_subscriptions": 1})
    assert await prefs.badge(db, ws.id, "UBIG001999") == 1
