"""Notifications end to end, with real processes: an API, a relay, a gateway and the worker
role as its own process, a real push gateway (HTTP) and a real SMTP server in the test.

One deployment for the module; each test uses its own people so the tests stay independent.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from psycopg.rows import dict_row
from slack_sdk import WebClient
from websockets.sync.client import connect

from cell.embedded.process import free_port
from tests.support.cellprocs import CellProcess, Deployment, deployment
from tests.support.cells import Person, Workspace
from tests.support.infra import Infra
from tests.support.notify import Mailbox, Push, PushGateway, push_gateway, smtp_server, wait_for

AGGREGATE_SECONDS = 1.5


@dataclass
class Setup:
    cell: Deployment
    worker: CellProcess
    gateway: PushGateway
    mailbox: Mailbox
    workspace: Workspace
    owner: WebClient

    def person(self, name: str, *, device: bool = True) -> tuple[Person, str]:
        """A new member (of #general) with one push device, whose pushkey is returned."""
        person = self.cell.cell.user(self.workspace, name)
        pushkey = f"key-{name}"
        if device:
            WebClient(token=person.token, base_url=self.cell.cell.api).api_call(
                "push.register", json={"app_id": "chat.cellchat.ios", "pushkey": pushkey, "url": self.gateway.url})
        return person, pushkey

    def dm(self, person: Person, text: str) -> tuple[str, str]:
        channel = self.owner.conversations_open(users=person.id)["channel"]["id"]
        return channel, str(self.owner.chat_postMessage(channel=channel, text=text)["ts"])

    def rows(self, query: str, **args: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.cell.cell.dsn, row_factory=dict_row, autocommit=True) as conn:
            return conn.execute(query, args).fetchall()

    def notifications(self, user: str) -> list[dict[str, Any]]:
        return self.rows("SELECT channel_id, ts, reason, push_state, push_key::text AS push_key, email_state,"
                         " digest_key::text AS digest_key FROM notifications WHERE user_id = %(u)s ORDER BY ts",
                         u=user)


@pytest.fixture(scope="module")
def setup(infra: Infra) -> Iterator[Setup]:
    name, dsn = infra.fresh_database()
    redis.Redis.from_url(infra.redis.url).flushall()
    with tempfile.TemporaryDirectory(prefix="cellchat-notify-") as tmp, push_gateway() as gateway, \
            smtp_server() as mailbox:
        folder = Path(tmp)
        env = {
            "CELLCHAT_REALTIME__RELAY_POLL_SECONDS": "0.2",
            "CELLCHAT_OUTBOX__POLL_SECONDS": "0.5",
            "CELLCHAT_NOTIFY__PUSH_DELAY_SECONDS": "1",
            "CELLCHAT_NOTIFY__AGGREGATE_SECONDS": str(AGGREGATE_SECONDS),
            "CELLCHAT_NOTIFY__ALLOW_HTTP_GATEWAYS": "true",
            "CELLCHAT_EGRESS__ALLOWED_NETWORKS": '["127.0.0.0/8"]',  # the test's gateway is on loopback
            "CELLCHAT_NOTIFY__PUSH_MAX_ATTEMPTS": "2",
            "CELLCHAT_NOTIFY__PUSH_BACKOFF_SECONDS": "0.1",
            "CELLCHAT_NOTIFY__LEASE_SECONDS": "2",
            "CELLCHAT_NOTIFY__EMAIL_AFTER_SECONDS": "1",
            "CELLCHAT_NOTIFY__EMAIL_POLL_SECONDS": "0.3",
            "CELLCHAT_NOTIFY__SMTP_HOST": mailbox.host,
            "CELLCHAT_NOTIFY__SMTP_PORT": str(mailbox.port),
        }
        with deployment(dsn, infra.redis.url, folder, gateways=1, relays=1, **env) as running:
            worker = CellProcess("worker", running.api.env, folder / "worker.log", free_port())
            worker.start()
            try:
                workspace = running.cell.workspace()
                owner = WebClient(token=workspace.owner.token, base_url=running.cell.api)
                yield Setup(running, worker, gateway, mailbox, workspace, owner)
            finally:
                worker.stop()
    infra.drop_database(name)


def test_dm_to_an_offline_person_is_pushed_once_with_the_badge(setup: Setup) -> None:
    """A DM to someone who is not online reaches their device: one push, the message's text,
    the reason, the idempotency key of its notification row and the badge (1 unread)."""
    ann, key = setup.person("ann")
    channel, ts = setup.dm(ann, "lunch at noon?")
    wait_for(lambda: len(setup.gateway.to(key)) >= 1, what="the push to ann")
    [push] = setup.gateway.to(key)
    note = push.notification
    assert (note["room_id"], note["content"]["body"], note["counts"]["unread"]) == \
        (channel, "owner1: lunch at noon?", 1)
    assert (note["cellchat"]["reason"], push.messages) == ("dm", [ts])
    [row] = setup.notifications(ann.id)
    assert (row["push_state"], row["push_key"]) == ("pushed", push.key)


def test_a_person_active_on_the_web_gets_a_desktop_notification_and_no_push(setup: Setup) -> None:
    """Online: the RTM desktop_notification arrives at once; no push while they stay active
    past the push delay; once they read it and leave, still no push (the read cursor passed it)."""
    bob, key = setup.person("bob")
    bob_web = WebClient(token=bob.token, base_url=setup.cell.cell.api)
    with connect(bob_web.rtm_connect()["url"]) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "hello"
        channel, ts = setup.dm(bob, "are you there?")
        while (event := json.loads(socket.recv(timeout=10)))["type"] != "desktop_notification":
            pass
        assert (event["channel"], event["msg"], event["reason"], event["content"]) == \
            (channel, ts, "dm", "owner1: are you there?")
        # Stay active for longer than the push delay (1 s), with the worker re-checking meanwhile.
        wait_for(lambda: setup.rows("SELECT push_due_at > created_at + interval '1.5 second' AS later"
                                    " FROM notifications WHERE user_id = %(u)s", u=bob.id)[0]["later"],
                 what="bob's push to be put off while he is active")
        assert setup.gateway.to(key) == []
        bob_web.conversations_mark(channel=channel, ts=ts)
    wait_for(lambda: setup.notifications(bob.id)[0]["push_state"] == "read", what="bob's notification read")
    assert setup.gateway.to(key) == []


def test_a_burst_in_a_channel_is_pushed_first_at_once_then_merged(setup: Setup) -> None:
    """Four mentions in #general: the first is pushed alone, the next three together
    ("3 new messages in #general") one aggregation window later; each message in one push."""
    cat, key = setup.person("cat")
    posted = [str(setup.owner.chat_postMessage(channel=setup.workspace.general, text=f"<@{cat.id}> step {n}")["ts"])
              for n in range(4)]
    wait_for(lambda: sum(len(p.messages) for p in setup.gateway.to(key)) >= 4, what="pushes covering 4 messages")
    pushes = setup.gateway.to(key)
    assert [p.messages for p in pushes] == [posted[:1], posted[1:]]
    assert [p.notification["content"]["body"] for p in pushes] == \
        [f"owner1: <@{cat.id}> step 0", "3 new messages in #general"]
    # The badge is the unread total when each push is made: later messages may already be in.
    badges = [p.notification["counts"]["unread"] for p in pushes]
    assert 1 <= badges[0] <= 4 and badges[1] == 4
    assert len({p.key for p in pushes}) == 2


def test_a_rejected_device_is_deregistered_and_a_failing_one_dead_lettered(setup: Setup) -> None:
    """The gateway's ``rejected`` list removes that device; a device whose gateway keeps
    failing gets its retries (with backoff), then a dead-letter row with the last error."""
    dan, gone_key = setup.person("dan")
    dan_web = WebClient(token=dan.token, base_url=setup.cell.cell.api)
    dan_web.api_call("push.register", json={"app_id": "chat.cellchat.android", "pushkey": "key-dan-broken",
                                            "url": setup.gateway.url})
    setup.gateway.reject.add(gone_key)
    setup.gateway.fail.add("key-dan-broken")
    setup.dm(dan, "ping")
    wait_for(lambda: [r["state"] for r in setup.rows(
        "SELECT state FROM notify_pushes WHERE user_id = %(u)s ORDER BY device_id", u=dan.id)
    ] in (["rejected", "dead"], ["dead", "rejected"]), what="one rejected and one dead delivery")
    assert [d["pushkey"] for d in dan_web.api_call("push.list")["devices"]] == ["key-dan-broken"]
    [dead] = setup.rows("SELECT attempts, last_error FROM notify_pushes WHERE state = 'dead' AND user_id = %(u)s",
                        u=dan.id)
    assert (dead["attempts"], dead["last_error"]) == (2, "HTTP 500")
    assert len(setup.gateway.to("key-dan-broken")) == 2
    counted = deliveries(setup.worker)  # the worker's /metrics count each outcome
    assert all(counted.get(("push", outcome), 0) >= 1 for outcome in ("rejected", "retried", "dead")), counted


def deliveries(worker: CellProcess) -> dict[tuple[str, str], float]:
    """``cellchat_notify_deliveries_total`` from the worker's /metrics, by (channel, outcome)."""
    text = httpx.get(f"{worker.url}/metrics", timeout=10).text
    return {(s.labels["channel"], s.labels["outcome"]): s.value
            for family in text_string_to_metric_families(text) if family.name == "cellchat_notify_deliveries"
            for s in family.samples if s.name.endswith("_total")}


def test_an_offline_person_gets_one_digest_of_what_they_missed(setup: Setup) -> None:
    """Offline past email_after: one email (real SMTP) listing the unread notifications — not
    the one they already read, not the conversation's history — with the digest key as Message-ID."""
    eve, _ = setup.person("eve", device=False)
    setup.owner.chat_postMessage(channel=setup.workspace.general, text="history nobody is told about")
    read_channel, read_ts = setup.dm(eve, "already seen")
    WebClient(token=eve.token, base_url=setup.cell.cell.api).conversations_mark(channel=read_channel, ts=read_ts)
    setup.owner.chat_postMessage(channel=setup.workspace.general, text=f"<@{eve.id}> review please")
    channel, _ = setup.dm(eve, "call me back")
    wait_for(lambda: len(setup.mailbox.to(eve.email)) >= 1, what="eve's digest")
    wait_for(lambda: all(r["email_state"] != "pending" for r in setup.notifications(eve.id)),
             what="every notification of eve settled")
    [mail] = setup.mailbox.to(eve.email)
    body = mail.get_payload()
    assert isinstance(body, str)
    assert "owner1: <@" in body and "review please" in body and "owner1: call me back" in body
    assert "already seen" not in body and "history nobody" not in body
    states = {r["ts"]: (r["email_state"], r["digest_key"]) for r in setup.notifications(eve.id)}
    keys = {key for state, key in states.values() if state == "emailed"}
    assert sorted(s for s, _ in states.values()) == ["emailed", "emailed", "read"]
    assert mail["Message-ID"] == f"<{keys.pop()}@cellchat.notifications>"
    assert mail["Subject"].endswith("You have 2 unread notifications")
    assert channel  # the DM is one of the two
    wait_for(lambda: deliveries(setup.worker).get(("email", "sent"), 0) >= 1, what="the digest counted as sent")


def test_thread_follows_mute_dnd_and_the_urgent_exception_come_from_the_preferences(setup: Setup) -> None:
    """The worker reads the stored preferences: a reply notifies the root's author (a follower);
    a muted person and a snoozed one are not told of their mention; in a channel marked urgent
    an @channel reaches the snoozed person. (Preferences written as notify-state's methods store them.)"""
    gus, _ = setup.person("gus", device=False)
    hal, _ = setup.person("hal", device=False)
    ivy, _ = setup.person("ivy", device=False)
    ws, general = setup.workspace.id, setup.workspace.general
    room = setup.owner.conversations_create(name="incidents")["channel"]["id"]
    setup.owner.conversations_invite(channel=room, users=ivy.id)
    setup.rows("INSERT INTO notify_channel_prefs (workspace_id, channel_id, user_id, muted)"
               " VALUES (%(w)s, %(c)s, %(u)s, true) RETURNING 1", w=ws, c=general, u=hal.id)
    setup.rows("INSERT INTO notify_prefs (workspace_id, user_id, snooze_until)"
               " VALUES (%(w)s, %(u)s, now() + interval '1 hour') RETURNING 1", w=ws, u=ivy.id)
    setup.rows("UPDATE channels SET is_urgent = true WHERE workspace_id = %(w)s AND channel_id = %(c)s"
               " RETURNING 1", w=ws, c=room)
    root = WebClient(token=gus.token, base_url=setup.cell.cell.api).chat_postMessage(
        channel=general, text="root by gus")["ts"]
    setup.owner.chat_postMessage(channel=general, thread_ts=root, text=f"reply for <@{hal.id}> <@{ivy.id}>")
    setup.owner.chat_postMessage(channel=room, text="<!channel> the site is down", confirm_broadcast=True)
    setup.owner.chat_postMessage(channel=general, text="sentinel", thread_ts=root)
    wait_for(lambda: len(setup.notifications(gus.id)) >= 2, what="gus told of both replies")
    assert [r["reason"] for r in setup.notifications(gus.id)] == ["thread", "thread"]
    assert setup.notifications(hal.id) == []
    # ivy's mention (and the sentinel reply in the thread she now follows) were posted during
    # her snooze: never pushed ('dnd'); the urgent @channel is an ordinary notification.
    assert [(r["channel_id"], r["reason"], r["push_state"]) for r in setup.notifications(ivy.id)] == \
        [(general, "mention", "dnd"), (room, "channel", "none"), (general, "thread", "dnd")]


def test_sigkill_of_the_worker_mid_burst_loses_no_push_and_duplicates_none(setup: Setup) -> None:
    """A burst to eight conversations of one person, the gateway holding its answers, the worker
    SIGKILLed while requests wait for them and more messages posted while it is dead: after a
    restart every message is in exactly one push key (none lost, none pushed under two keys);
    the requests the kill cut off come again with their own key only."""
    fay, key = setup.person("fay")
    setup.gateway.hold = 2.0  # longer than the kill takes: the first requests are cut off unanswered
    channels = [setup.owner.conversations_create(name=f"burst-{n}")["channel"]["id"] for n in range(8)]
    for channel in channels:
        setup.owner.conversations_invite(channel=channel, users=fay.id)
    posted = [str(setup.owner.chat_postMessage(channel=c, text=f"<@{fay.id}> first")["ts"]) for c in channels]
    try:
        wait_for(lambda: len(setup.gateway.to(key)) >= 2, what="the first pushes of the burst")
        setup.worker.kill()
        posted += [str(setup.owner.chat_postMessage(channel=c, text=f"<@{fay.id}> while down")["ts"])
                   for c in channels[:4]]
        setup.worker.start()
        wait_for(lambda: {m for p in setup.gateway.to(key) for m in p.messages} >= set(posted), timeout=60,
                 what="every message of the burst pushed")
        # The requests the kill cut off come again once their lease runs out, which on a quiet
        # machine can be after the new messages' pushes: wait for them too.
        wait_for(lambda: len({p.key for p in setup.gateway.to(key)}) < len(setup.gateway.to(key)), timeout=60,
                 what="the requests the kill cut off, sent again under their own key")
    finally:
        setup.gateway.hold = 0.0
    pushes = setup.gateway.to(key)
    by_key: dict[str, list[Push]] = {}
    for push in pushes:
        by_key.setdefault(push.key, []).append(push)
    covered = [m for same in by_key.values() for m in same[0].messages]
    assert sorted(covered) == sorted(posted)  # each message under exactly one key
    assert all(p.body == same[0].body for same in by_key.values() for p in same)  # repeats are identical
    assert any(len(same) > 1 for same in by_key.values())  # the kill did cut requests off: they came again
    rows = setup.notifications(fay.id)
    assert (len(rows), {r["push_state"] for r in rows}) == (len(posted), {"pushed"})


def test_an_edit_that_adds_a_mention_notifies_only_the_newly_mentioned(setup: Setup) -> None:
    """chat.update adding <@kim> to a message that already mentioned <@jon>: kim is notified
    (reason mention, the message's own ts), jon is not notified a second time, and an edit
    that mentions nobody new (or the same edit again) notifies no one."""
    jon, _ = setup.person("jon", device=False)
    kim, _ = setup.person("kim", device=False)
    general = setup.workspace.general
    ts = setup.owner.chat_postMessage(channel=general, text=f"plan for <@{jon.id}>")["ts"]
    wait_for(lambda: len(setup.notifications(jon.id)) == 1, what="jon told of the first version")
    setup.owner.chat_update(channel=general, ts=ts, text=f"plan for <@{jon.id}> and <@{kim.id}>")
    setup.owner.chat_update(channel=general, ts=ts, text=f"plan for <@{jon.id}> and <@{kim.id}>!")
    sentinel = setup.owner.chat_postMessage(channel=general, text=f"sentinel <@{jon.id}>")["ts"]
    wait_for(lambda: len(setup.notifications(jon.id)) == 2, what="jon told of the sentinel")
    assert [(r["channel_id"], r["reason"]) for r in setup.notifications(kim.id)] == [(general, "mention")]
    assert [r["reason"] for r in setup.notifications(jon.id)] == ["mention", "mention"]
    assert setup.rows("SELECT count(*) AS n FROM notifications WHERE user_id = %(u)s AND ts = %(ts)s",
                      u=jon.id, ts=int(ts.replace(".", "")))[0]["n"] == 1
    assert sentinel


def test_a_dm_during_a_snooze_is_never_pushed_and_one_after_it_is(setup: Setup) -> None:
    """Snoozed for an hour: a DM gives no desktop notification and no push, its row is 'dnd';
    after dnd.endSnooze it is still not pushed, and the next DM is: exactly one push."""
    lea, key = setup.person("lea")
    lea_client = WebClient(token=lea.token, base_url=setup.cell.cell.api)
    lea_client.dnd_setSnooze(num_minutes=60)
    channel, quiet = setup.dm(lea, "while you were away")
    wait_for(lambda: len(setup.notifications(lea.id)) == 1, what="lea's silenced notification")
    assert setup.notifications(lea.id)[0]["push_state"] == "dnd"
    lea_client.dnd_endSnooze()
    _, loud = setup.dm(lea, "welcome back")
    wait_for(lambda: len(setup.gateway.to(key)) >= 1, what="the push of the DM after the snooze")
    wait_for(lambda: setup.notifications(lea.id)[-1]["push_state"] == "pushed", what="lea's second row pushed")
    [push] = setup.gateway.to(key)
    assert (push.notification["room_id"], push.messages) == (channel, [loud])
    assert [(r["ts"], r["push_state"]) for r in setup.notifications(lea.id)] == [
        (int(quiet.replace(".", "")), "dnd"), (int(loud.replace(".", "")), "pushed")]


def paused(setup: Setup, user: str) -> bool:
    """Whether the person's pending push was looked at and put off past the push delay (DND)."""
    found = setup.rows("SELECT push_state = 'pending' AND push_due_at > created_at + interval '1.5 second' AS later"
                       " FROM notifications WHERE user_id = %(u)s ORDER BY ts LIMIT 1", u=user)
    return bool(found and found[0]["later"])


def test_a_worker_catching_up_judges_dnd_at_each_messages_time(setup: Setup) -> None:
    """The worker decides late (it was stopped), and judges DND at each message's own time: a DM
    posted before a snooze and decided while it runs is notified, its push paused until the
    snooze ends; a DM posted during the snooze and decided only after it ended is never pushed;
    one posted after the snooze is."""
    max_, key = setup.person("max")
    client = WebClient(token=max_.token, base_url=setup.cell.cell.api)
    setup.worker.stop()
    try:
        channel, before = setup.dm(max_, "before the snooze")
        client.dnd_setSnooze(num_minutes=60)
    finally:
        setup.worker.start()
    wait_for(lambda: paused(setup, max_.id), what="the push of the DM before the snooze paused")
    assert setup.gateway.to(key) == []
    setup.worker.stop()
    try:
        _, during = setup.dm(max_, "during the snooze")
        client.dnd_endSnooze()
        _, after = setup.dm(max_, "after the snooze")
    finally:
        setup.worker.start()
    wait_for(lambda: {m for p in setup.gateway.to(key) for m in p.messages} >= {before, after},
             what="the pushes of the DMs before and after the snooze")
    wait_for(lambda: len(setup.notifications(max_.id)) == 3, what="max's three notifications decided")
    pushed = sorted(m for p in setup.gateway.to(key) for m in p.messages)
    assert (pushed, setup.gateway.to(key)[0].notification["room_id"]) == (sorted([before, after]), channel)
    assert [(r["ts"], r["push_state"]) for r in setup.notifications(max_.id)] == [
        (int(before.replace(".", "")), "pushed"), (int(during.replace(".", "")), "dnd"),
        (int(after.replace(".", "")), "pushed")]
