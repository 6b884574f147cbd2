"""Unreads, thread follows, preferences and DND through the official ``slack_sdk`` against a real
cell (docs/notifications.md): the counts call, ``conversations.mark``, thread marks, every
``dnd.*`` method, ``users.prefs.*``, and bad input that changes nothing."""

from __future__ import annotations

import asyncio
import time
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from cell.notify import prefs as notify_prefs
from cell.store.db import Database
from tests.support.cells import Person, RunningCell, Workspace, running_cell
from tests.support.infra import Infra


@pytest.fixture(scope="module")
def cell(infra: Infra) -> Iterator[RunningCell]:
    """One cell for the module; each test makes its own workspace."""
    with running_cell(infra) as running:
        yield running


def web(cell: RunningCell, person: Person) -> WebClient:
    return WebClient(token=person.token, base_url=cell.api)


def call(client: WebClient, method: str, **params: Any) -> dict[str, Any]:
    data = client.api_call(method, params=params).data
    assert isinstance(data, dict)
    return data


def error_of(client: WebClient, method: str, **params: Any) -> str:
    with pytest.raises(SlackApiError) as raised:
        client.api_call(method, params=params)
    return str(raised.value.response["error"])


def by_id(entries: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return next(e for e in entries if e["id"] == key)


def load(cell: RunningCell, ws: Workspace, channel: str, users: list[str]) -> dict[str, notify_prefs.EffectivePrefs]:
    async def run() -> dict[str, notify_prefs.EffectivePrefs]:
        db = Database(cell.dsn, min_size=1, max_size=1)
        await db.open()
        try:
            return await notify_prefs.load(db, ws.id, channel, users)
        finally:
            await db.close()
    return asyncio.run(run())


# --- the counts call, conversations.mark ------------------------------------------------------


def test_counts_give_the_whole_sidebar_and_mark_clears_it(cell: RunningCell) -> None:
    """client.counts: per conversation the unread, displayed-unread and mention counts (DM messages
    count as mentions; topic changes do not display; @channel is a mention), and the badge; marking a
    conversation read clears its part, on users.counts alike."""
    ws = cell.workspace()
    bob, carol = cell.user(ws, "bob"), cell.user(ws, "carol")
    owner, bobc = web(cell, ws.owner), web(cell, bob)
    owner.chat_postMessage(channel=ws.general, text="morning")
    owner.chat_postMessage(channel=ws.general, text=f"<@{bob.id}> look")
    owner.conversations_setTopic(channel=ws.general, topic="today")  # a quiet subtype: not displayed
    last = owner.chat_postMessage(channel=ws.general, text="<!channel> standup")["ts"]
    bobc.chat_postMessage(channel=ws.general, text="my own")  # not unread for bob
    dm = owner.conversations_open(users=bob.id)["channel"]["id"]
    owner.chat_postMessage(channel=dm, text="psst")
    mpim = owner.conversations_open(users=f"{bob.id},{carol.id}")["channel"]["id"]
    owner.chat_postMessage(channel=mpim, text="all three")

    counts = call(bobc, "client.counts")
    general = by_id(counts["channels"], ws.general)
    assert (general["unread_count"], general["unread_count_display"], general["mention_count"],
            general["has_unreads"], general["is_muted"]) == (5, 3, 2, True, False)
    assert by_id(counts["ims"], dm) | {"latest": "", "last_read": ""} == {
        "id": dm, "user_id": ws.owner.id, "is_open": True, "has_unreads": True, "mention_count": 1,
        "unread_count": 1, "unread_count_display": 1, "is_muted": False, "latest": "", "last_read": ""}
    assert by_id(counts["mpims"], mpim)["mention_count"] == 1
    assert (counts["badge"], counts["channel_badges"]) == (4, {
        "channels": 2, "dms": 2, "thread_mentions": 0, "thread_unreads": 0})

    bobc.conversations_mark(channel=ws.general, ts=last)
    after = call(bobc, "users.counts")
    general = by_id(after["channels"], ws.general)
    assert (general["last_read"], general["unread_count"], general["mention_count"], general["has_unreads"],
            after["badge"]) == (last, 1, 0, False, 2)


def test_a_muted_conversation_leaves_the_badge_and_suppression_drops_broadcasts(cell: RunningCell) -> None:
    """Muting a DM takes its messages out of the badge (still counted, flagged is_muted); with
    @channel suppressed in a channel, an @channel there is no mention, a direct mention still is."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    owner, bobc = web(cell, ws.owner), web(cell, bob)
    dm = owner.conversations_open(users=bob.id)["channel"]["id"]
    owner.chat_postMessage(channel=dm, text="one")
    call(bobc, "users.prefs.setNotifications", channel_id=dm, name="muted", value="true")
    call(bobc, "users.prefs.setNotifications", channel_id=ws.general, name="suppress_at_channel", value="true")
    owner.chat_postMessage(channel=ws.general, text="<!channel> all of you")
    owner.chat_postMessage(channel=ws.general, text=f"<@{bob.id}> you")
    counts = call(bobc, "client.counts")
    assert (by_id(counts["ims"], dm)["is_muted"], by_id(counts["ims"], dm)["unread_count_display"],
            by_id(counts["channels"], ws.general)["mention_count"], counts["badge"]) == (True, 1, 1, 1)


# --- threads ------------------------------------------------------------------------------------


def thread_of(counts: dict[str, Any], ts: str) -> dict[str, Any] | None:
    return next((t for t in counts["threads"]["threads"] if t["thread_ts"] == ts), None)


def test_threads_are_followed_counted_and_marked(cell: RunningCell) -> None:
    """The root's author follows a thread others reply to; replies by others are unread, mentions
    in them are thread mentions; subscriptions.thread.mark reads it; an explicit follow starts
    with everything read, an unfollow is kept against later mentions but not against a reply."""
    ws = cell.workspace()
    bob, carol, dave = cell.user(ws, "bob"), cell.user(ws, "carol"), cell.user(ws, "dave")
    owner, bobc, carolc, davec = web(cell, ws.owner), web(cell, bob), web(cell, carol), web(cell, dave)
    root = owner.chat_postMessage(channel=ws.general, text="plan?")["ts"]
    bobc.chat_postMessage(channel=ws.general, thread_ts=root, text="idea")
    reply = carolc.chat_postMessage(channel=ws.general, thread_ts=root, text=f"<@{ws.owner.id}> and this")["ts"]

    mine = call(owner, "client.counts")
    assert thread_of(mine, root) == {
        "channel": ws.general, "thread_ts": root, "last_read": "0.000000", "latest_reply": reply,
        "unread_count": 2, "mention_count": 1, "is_muted": False}
    assert (mine["threads"]["has_unreads"], mine["threads"]["mention_count"], mine["badge"]) == (True, 1, 1)
    assert thread_of(call(bobc, "client.counts"), root)["unread_count"] == 1  # type: ignore[index]  # carol's only

    marked = call(owner, "subscriptions.thread.mark", channel=ws.general, thread_ts=root, ts=reply)
    assert marked["subscription"] == {"type": "thread", "channel": ws.general, "thread_ts": root,
                                      "active": True, "last_read": reply, "unread_count": 0}
    assert (thread_of(call(owner, "client.counts"), root), call(owner, "client.counts")["badge"]) == (None, 0)

    added = call(davec, "subscriptions.thread.add", channel=ws.general, thread_ts=root)["subscription"]
    assert (added["active"], added["last_read"], added["unread_count"]) == (True, reply, 0)
    later = bobc.chat_postMessage(channel=ws.general, thread_ts=root, text="more")["ts"]
    assert thread_of(call(davec, "client.counts"), root)["unread_count"] == 1  # type: ignore[index]

    assert call(davec, "subscriptions.thread.remove", channel=ws.general, thread_ts=later)["subscription"][
        "active"] is False  # a reply's ts names its thread
    bobc.chat_postMessage(channel=ws.general, thread_ts=root, text=f"<@{dave.id}> still there?")
    assert thread_of(call(davec, "client.counts"), root) is None
    davec.chat_postMessage(channel=ws.general, thread_ts=root, text="back in")
    carolc.chat_postMessage(channel=ws.general, thread_ts=root, text="welcome back")
    assert thread_of(call(davec, "client.counts"), root)["unread_count"] == 1  # type: ignore[index]


# --- preferences ----------------------------------------------------------------------------------


def test_prefs_are_read_and_written_and_reach_the_worker(cell: RunningCell) -> None:
    """users.prefs.set (one name, or several as a JSON object) and setNotifications change what
    users.prefs.get answers and what the notification worker loads; conversations.setUrgent too."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    bobc = web(cell, bob)
    assert call(bobc, "users.prefs.get")["prefs"] == {
        "notify_level": "mentions", "highlight_words": "", "dnd_enabled": False, "dnd_start_hour": "22:00",
        "dnd_end_hour": "08:00", "tz": "UTC", "muted_channels": "", "at_channel_suppressed_channels": "",
        "all_notifications_prefs": '{"global":{"notify_level":"mentions"},"channels":{}}'}
    call(bobc, "users.prefs.set", name="notify_level", value="all")
    bobc.api_call("users.prefs.set", json={"prefs": {"highlight_words": "deploy, Ops,deploy", "tz": "Europe/Berlin"}})
    call(bobc, "users.prefs.setNotifications", channel_id=ws.general, name="level", value="nothing")
    call(web(cell, ws.owner), "conversations.setUrgent", channel=ws.general, urgent="true")
    got = call(bobc, "users.prefs.get")["prefs"]
    assert (got["notify_level"], got["highlight_words"], got["tz"], got["all_notifications_prefs"]) == (
        "all", "deploy,Ops", "Europe/Berlin",
        orjson.dumps({"global": {"notify_level": "all"}, "channels": {
            ws.general: {"level": "nothing", "muted": False, "suppress_at_channel": False}}}).decode())
    loaded = load(cell, ws, ws.general, [bob.id])[bob.id]
    assert (loaded.level, loaded.keywords, loaded.urgent, loaded.dnd.tz) == (
        "nothing", ("deploy", "Ops"), True, "Europe/Berlin")


# --- DND ------------------------------------------------------------------------------------------


def test_snooze_is_set_seen_by_teammates_and_ended(cell: RunningCell) -> None:
    """dnd.setSnooze snoozes for the minutes asked; dnd.info shows it to the person, dnd.teamInfo
    to teammates as DND until its end; dnd.endSnooze ends it, and a second end is refused."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    owner, bobc = web(cell, ws.owner), web(cell, bob)
    assert {k: v for k, v in bobc.dnd_info().data.items() if k != "ok"} == {  # type: ignore[union-attr]
        "dnd_enabled": False, "next_dnd_start_ts": 1, "next_dnd_end_ts": 1, "snooze_enabled": False}
    before = int(time.time())
    snoozed = bobc.dnd_setSnooze(num_minutes=30)
    assert (snoozed["snooze_enabled"], snoozed["snooze_is_indefinite"]) == (True, False)
    assert before + 1800 <= snoozed["snooze_endtime"] <= int(time.time()) + 1800
    assert 0 < snoozed["snooze_remaining"] <= 1800
    assert bobc.dnd_info()["snooze_endtime"] == snoozed["snooze_endtime"]
    team = owner.dnd_teamInfo(users=f"{bob.id},{ws.owner.id}")["users"]
    assert (team[bob.id]["next_dnd_end_ts"], team[ws.owner.id]) == (
        snoozed["snooze_endtime"], {"dnd_enabled": False, "next_dnd_start_ts": 1, "next_dnd_end_ts": 1})
    assert owner.dnd_info(user=bob.id)["next_dnd_end_ts"] == snoozed["snooze_endtime"]
    assert "snooze_enabled" not in owner.dnd_info(user=bob.id).data
    assert notify_prefs.dnd_active(load(cell, ws, ws.general, [bob.id])[bob.id], datetime.now(UTC)) is True
    assert bobc.dnd_endSnooze()["snooze_enabled"] is False
    assert notify_prefs.dnd_active(load(cell, ws, ws.general, [bob.id])[bob.id], datetime.now(UTC)) is False
    assert error_of(bobc, "dnd.endSnooze") == "snooze_not_active"


def test_a_schedule_in_the_persons_zone_and_end_dnd(cell: RunningCell) -> None:
    """A daily window set through users.prefs.set in the person's zone, around now and across
    midnight if it falls so, is DND now; dnd.endDnd ends it until the next day's window."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    bobc = web(cell, bob)
    zone = "America/Los_Angeles"
    local = datetime.now(zoneinfo.ZoneInfo(zone))
    start, end = (local - timedelta(hours=1)).strftime("%H:%M"), (local + timedelta(hours=1)).strftime("%H:%M")
    bobc.api_call("users.prefs.set", json={"prefs": {"tz": zone, "dnd_enabled": True, "dnd_start_hour": start,
                                                     "dnd_end_hour": end}})
    info = bobc.dnd_info()
    now = time.time()
    assert (info["dnd_enabled"], info["next_dnd_start_ts"] <= now < info["next_dnd_end_ts"]) == (True, True)
    assert notify_prefs.dnd_active(load(cell, ws, ws.general, [bob.id])[bob.id], datetime.now(UTC)) is True
    bobc.dnd_endDnd()
    assert notify_prefs.dnd_active(load(cell, ws, ws.general, [bob.id])[bob.id], datetime.now(UTC)) is False
    tomorrow = datetime.fromtimestamp(info["next_dnd_start_ts"], zoneinfo.ZoneInfo(zone)) + timedelta(days=1)
    assert bobc.dnd_info()["next_dnd_start_ts"] == int(tomorrow.timestamp())  # wall-clock: DST-proof


# --- bad input ------------------------------------------------------------------------------------


def notify_state(cell: RunningCell, workspace_id: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(cell.dsn) as conn:
        return {table: conn.execute(f"SELECT * FROM {table} WHERE workspace_id = %s ORDER BY 1, 2, 3",
                                    (workspace_id,)).fetchall()
                for table in ("notify_prefs", "notify_channel_prefs", "thread_subscriptions", "users", "channels")}


def test_bad_input_is_refused_precisely_and_changes_nothing(cell: RunningCell) -> None:
    """Unknown and read-only prefs, bad values, time zones and windows, snoozes of 0 or 10 years,
    bad user lists and thread ids: each answers its own Slack error and no row changes (a batch
    of prefs with one bad value applies none of them)."""
    ws = cell.workspace()
    bob, outsider = cell.user(ws, "bob"), cell.user(ws, "outsider")
    owner, bobc = web(cell, ws.owner), web(cell, bob)
    root = owner.chat_postMessage(channel=ws.general, text="root")["ts"]
    private = owner.conversations_create(name="inner", is_private=True)["channel"]["id"]
    call(bobc, "users.prefs.set", name="dnd_start_hour", value="21:00")  # a row exists: updates must not touch it
    before = notify_state(cell, ws.id)
    cases: list[tuple[WebClient, str, dict[str, Any], str]] = [
        (bobc, "users.prefs.set", {"name": "sound_of_silence", "value": "x"}, "unknown_pref"),
        (bobc, "users.prefs.set", {"name": "muted_channels", "value": ws.general}, "read_only_pref"),
        (bobc, "users.prefs.set", {"name": "notify_level", "value": "loud"}, "invalid_pref_value"),
        (bobc, "users.prefs.set", {"name": "tz", "value": "Mars/Olympus_Mons"}, "invalid_timezone"),
        (bobc, "users.prefs.set", {"name": "tz", "value": "../../etc/passwd"}, "invalid_timezone"),
        (bobc, "users.prefs.set", {"name": "dnd_start_hour", "value": "25:00"}, "invalid_pref_value"),
        (bobc, "users.prefs.set", {"name": "dnd_end_hour", "value": "21:00"}, "invalid_dnd_window"),
        (bobc, "users.prefs.set", {"name": "dnd_enabled", "value": "maybe"}, "invalid_pref_value"),
        (bobc, "users.prefs.set", {"name": "highlight_words", "value": ",".join(["w"] * 101)}, "invalid_pref_value"),
        (bobc, "users.prefs.set", {"prefs": '{"notify_level": "all", "tz": "Nowhere/City"}'}, "invalid_timezone"),
        (bobc, "users.prefs.set", {"prefs": "{}"}, "invalid_arguments"),
        (bobc, "users.prefs.set", {}, "invalid_arguments"),
        (bobc, "users.prefs.setNotifications", {"channel_id": ws.general, "name": "level", "value": "loud"},
         "invalid_pref_value"),
        (bobc, "users.prefs.setNotifications", {"channel_id": ws.general, "name": "volume", "value": "1"},
         "unknown_pref"),
        (bobc, "users.prefs.setNotifications", {"channel_id": private, "name": "muted", "value": "true"},
         "channel_not_found"),
        (bobc, "dnd.setSnooze", {"num_minutes": "0"}, "invalid_duration"),
        (bobc, "dnd.setSnooze", {"num_minutes": "-5"}, "invalid_duration"),
        (bobc, "dnd.setSnooze", {"num_minutes": "ten"}, "invalid_duration"),
        (bobc, "dnd.setSnooze", {"num_minutes": str(10 * 365 * 24 * 60)}, "too_long"),
        (bobc, "dnd.setSnooze", {}, "missing_duration"),
        (bobc, "dnd.endSnooze", {}, "snooze_not_active"),
        (bobc, "dnd.teamInfo", {}, "no_users_provided"),
        (bobc, "dnd.teamInfo", {"users": ",".join(f"U{n:09d}" for n in range(51))}, "too_many_users"),
        (bobc, "dnd.teamInfo", {"users": f"{ws.owner.id},UNOBODY000"}, "user_not_found"),
        (bobc, "dnd.info", {"user": "not-a-user"}, "user_not_found"),
        (bobc, "conversations.setUrgent", {"channel": ws.general, "urgent": "true"}, "not_authorized"),
        (bobc, "subscriptions.thread.add", {"channel": ws.general, "thread_ts": "yesterday"}, "invalid_timestamp"),
        (bobc, "subscriptions.thread.add", {"channel": ws.general, "thread_ts": "1.000001"}, "thread_not_found"),
        (web(cell, outsider), "subscriptions.thread.mark", {"channel": private, "thread_ts": root, "ts": root},
         "channel_not_found"),
    ]
    got = [(method, error_of(client, method, **params)) for client, method, params, _ in cases]
    assert got == [(method, code) for _, method, _, code in cases]
    assert notify_state(cell, ws.id) == before
