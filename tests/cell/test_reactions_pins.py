"""reactions.add|remove|get and pins.add|remove|list through slack_sdk against a real cell."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from slack_sdk import WebClient

from tests.support.cells import Person, RunningCell, Workspace
from tests.support.chat import (
    Scene,
    aweb,
    error_of,
    last_outbox_id,
    outbox,
    snapshot,
    web,
)


def setup(cell: RunningCell) -> tuple[Workspace, Person, WebClient, WebClient, str]:
    """A workspace, a second member ann, both clients, and a message by the owner in #general."""
    ws = cell.workspace()
    ann = cell.user(ws, "ann")
    owner, ann_c = web(cell, ws.owner), web(cell, ann)
    ts = owner.chat_postMessage(channel=ws.general, text="react to me")["ts"]
    return ws, ann, owner, ann_c, ts


def message_in_history(client: WebClient, channel: str, ts: str) -> dict[str, Any]:
    [found] = [m for m in client.conversations_history(channel=channel)["messages"] if m["ts"] == ts]
    return found


# --- reactions -------------------------------------------------------------------------


def test_reactions_are_counted_per_emoji_with_their_users(cell: RunningCell) -> None:
    """Reactions show name, users (first reaction first) and count in reactions.get, history and replies."""
    ws, ann, owner, ann_c, ts = setup(cell)
    owner.reactions_add(channel=ws.general, timestamp=ts, name="thumbsup")
    ann_c.reactions_add(channel=ws.general, timestamp=ts, name="thumbsup")
    ann_c.reactions_add(channel=ws.general, timestamp=ts, name=":tada:")
    expected = [{"name": "thumbsup", "users": [ws.owner.id, ann.id], "count": 2},
                {"name": "tada", "users": [ann.id], "count": 1}]
    got = owner.reactions_get(channel=ws.general, timestamp=ts)
    assert (got["type"], got["channel"], got["message"]["ts"], got["message"]["reactions"]) == (
        "message", ws.general, ts, expected)
    assert message_in_history(owner, ws.general, ts)["reactions"] == expected
    assert owner.conversations_replies(channel=ws.general, ts=ts)["messages"][0]["reactions"] == expected


def test_reactions_on_a_reply_show_in_the_thread(cell: RunningCell) -> None:
    """A reaction on a thread reply is listed on that reply by conversations.replies."""
    ws, _, owner, ann_c, ts = setup(cell)
    reply = ann_c.chat_postMessage(channel=ws.general, text="r", thread_ts=ts)["ts"]
    owner.reactions_add(channel=ws.general, timestamp=reply, name="heart")
    messages = owner.conversations_replies(channel=ws.general, ts=ts)["messages"]
    assert [m.get("reactions") for m in messages] == [None, [{"name": "heart", "users": [ws.owner.id], "count": 1}]]


def test_reaction_remove_takes_back_ones_own(cell: RunningCell) -> None:
    """reactions.remove removes only the caller's reaction; an emoji nobody has any more disappears."""
    ws, _, owner, ann_c, ts = setup(cell)
    owner.reactions_add(channel=ws.general, timestamp=ts, name="thumbsup")
    ann_c.reactions_add(channel=ws.general, timestamp=ts, name="thumbsup")
    ann_c.reactions_add(channel=ws.general, timestamp=ts, name="eyes")
    ann_c.reactions_remove(channel=ws.general, timestamp=ts, name="thumbsup")
    ann_c.reactions_remove(channel=ws.general, timestamp=ts, name="eyes")
    assert owner.reactions_get(channel=ws.general, timestamp=ts)["message"]["reactions"] == [
        {"name": "thumbsup", "users": [ws.owner.id], "count": 1}]


def test_reaction_events_name_the_item_and_its_author(cell: RunningCell) -> None:
    """reaction_added / reaction_removed outbox events carry item {type, channel, ts} and item_user."""
    ws, ann, _, ann_c, ts = setup(cell)
    mark = last_outbox_id(cell)
    ann_c.reactions_add(channel=ws.general, timestamp=ts, name="wave")
    ann_c.reactions_remove(channel=ws.general, timestamp=ts, name="wave")
    events = outbox(cell, after=mark)
    assert [(e["event_type"], e["channel_id"]) for e in events] == [
        ("reaction_added", ws.general), ("reaction_removed", ws.general)]
    for event, kind in zip(events, ("reaction_added", "reaction_removed"), strict=True):
        payload = event["payload"]
        assert {k: payload[k] for k in ("type", "user", "reaction", "item_user", "item")} == {
            "type": kind, "user": ann.id, "reaction": "wave", "item_user": ws.owner.id,
            "item": {"type": "message", "channel": ws.general, "ts": ts}}


def test_full_lists_every_reacting_user(cell: RunningCell) -> None:
    """Without `full` a long list of users is cut to 50 (count stays exact); `full` gives them all."""
    ws, _, owner, _, ts = setup(cell)
    bots = [cell.bot(ws, f"fan{i}")[0] for i in range(51)]

    async def everyone_reacts() -> None:
        clients = [aweb(cell, bot) for bot in bots]
        await asyncio.gather(*(c.conversations_join(channel=ws.general) for c in clients))
        await asyncio.gather(*(c.reactions_add(channel=ws.general, timestamp=ts, name="clap") for c in clients))

    asyncio.run(everyone_reacts())
    [short] = owner.reactions_get(channel=ws.general, timestamp=ts)["message"]["reactions"]
    [full] = owner.reactions_get(channel=ws.general, timestamp=ts, full=True)["message"]["reactions"]
    assert (short["count"], len(short["users"]), full["count"], sorted(full["users"])) == (
        51, 50, 51, sorted(bot.id for bot in bots))


def test_concurrent_identical_reactions_count_once(cell: RunningCell) -> None:
    """Ten racing reactions.add of one person and emoji: one succeeds, the rest are already_reacted."""
    ws, _, _, ann_c, ts = setup(cell)
    start = threading.Barrier(10)
    results: list[str] = []
    lock = threading.Lock()

    def react() -> None:
        start.wait()
        try:
            ann_c.reactions_add(channel=ws.general, timestamp=ts, name="fire")
            outcome = "ok"
        except Exception as exc:  # the SDK raises SlackApiError
            outcome = getattr(exc, "response", {}).get("error", repr(exc))
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=react) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["already_reacted"] * 9 + ["ok"]
    assert len(outbox(cell, event_type="reaction_added")) == 1


def test_reactions_through_the_async_client(cell: RunningCell) -> None:
    """AsyncWebClient adds, reads and removes reactions."""
    ws, _, _, _, ts = setup(cell)

    async def scenario() -> tuple[int, Any]:
        client = aweb(cell, ws.owner)
        await client.reactions_add(channel=ws.general, timestamp=ts, name="rocket")
        count = (await client.reactions_get(channel=ws.general, timestamp=ts))["message"]["reactions"][0]["count"]
        await client.reactions_remove(channel=ws.general, timestamp=ts, name="rocket")
        return count, (await client.reactions_get(channel=ws.general, timestamp=ts))["message"].get("reactions")

    assert asyncio.run(scenario()) == (1, None)


# --- pins ------------------------------------------------------------------------------


def test_pins_list_shows_pinned_messages_newest_pin_first(cell: RunningCell) -> None:
    """pins.list lists each pinned message with who pinned it, latest pin first; pins.remove unpins."""
    ws, ann, owner, ann_c, ts = setup(cell)
    other = ann_c.chat_postMessage(channel=ws.general, text="me too")["ts"]
    owner.pins_add(channel=ws.general, timestamp=ts)
    ann_c.pins_add(channel=ws.general, timestamp=other)
    items = owner.pins_list(channel=ws.general)["items"]
    assert [(i["type"], i["channel"], i["message"]["ts"], i["created_by"]) for i in items] == [
        ("message", ws.general, other, ann.id), ("message", ws.general, ts, ws.owner.id)]
    assert all(isinstance(i["created"], int) for i in items)
    owner.pins_remove(channel=ws.general, timestamp=other)
    assert [i["message"]["text"] for i in owner.pins_list(channel=ws.general)["items"]] == ["react to me"]


def test_pin_events_carry_the_item(cell: RunningCell) -> None:
    """pins.add / pins.remove write pin_added / pin_removed with the message as item."""
    ws, ann, _, ann_c, ts = setup(cell)
    mark = last_outbox_id(cell)
    ann_c.pins_add(channel=ws.general, timestamp=ts)
    ann_c.pins_remove(channel=ws.general, timestamp=ts)
    added, removed = (e["payload"] for e in outbox(cell, after=mark))
    assert (added["type"], added["user"], added["channel_id"], added["item"]["message"]["ts"],
            added["item"]["created_by"]) == ("pin_added", ann.id, ws.general, ts, ann.id)
    assert (removed["type"], removed["user"], removed["channel_id"], removed["item"]["message"]["ts"],
            removed["has_pins"]) == ("pin_removed", ann.id, ws.general, ts, False)


def test_pins_through_the_async_client(cell: RunningCell) -> None:
    """AsyncWebClient pins, lists and unpins."""
    ws, _, _, _, ts = setup(cell)

    async def scenario() -> tuple[list[str], list[str]]:
        client = aweb(cell, ws.owner)
        await client.pins_add(channel=ws.general, timestamp=ts)
        pinned = [i["message"]["ts"] for i in (await client.pins_list(channel=ws.general))["items"]]
        await client.pins_remove(channel=ws.general, timestamp=ts)
        return pinned, [i["message"]["ts"] for i in (await client.pins_list(channel=ws.general))["items"]]

    assert asyncio.run(scenario()) == ([ts], [])


def test_pins_list_of_a_public_channel_is_readable_by_non_members(scene: Scene) -> None:
    """Someone not in a public channel can still list its pins (none here)."""
    assert scene.client(scene.bob).pins_list(channel=scene.channels["club"])["items"] == []


# --- every error code, over real HTTP, writing nothing ---------------------------------

ERRORS: list[tuple[str, str, Callable[[Scene], dict[str, Any]], str]] = [
    # reactions.add
    ("alice", "reactions.add", lambda s: {"channel": s.channels["general"], "timestamp": s.ts["msg"]},
     "invalid_arguments"),
    ("alice", "reactions.add", lambda s: {"timestamp": s.ts["msg"], "name": "wave"}, "no_item_specified"),
    ("alice", "reactions.add", lambda s: {"channel": s.channels["general"], "name": "wave"}, "no_item_specified"),
    ("alice", "reactions.add", lambda s: {"channel": s.channels["general"], "timestamp": "later", "name": "wave"},
     "bad_timestamp"),
    ("alice", "reactions.add", lambda s: {"channel": s.channels["general"], "timestamp": "1.000001", "name": "wave"},
     "message_not_found"),
    ("owner", "reactions.add", lambda s: {"channel": s.channels["general"], "timestamp": s.ts["secret_msg"],
                                          "name": "wave"}, "message_not_found"),
    ("alice", "reactions.add", lambda s: {"channel": s.channels["general"], "timestamp": s.ts["pinned"],
                                          "name": "wave"}, "already_reacted"),
    ("alice", "reactions.add", lambda s: {"channel": s.channels["general"], "timestamp": s.ts["msg"],
                                          "name": "Thumbs Up"}, "invalid_name"),
    ("alice", "reactions.add", lambda s: {"channel": s.channels["general"], "timestamp": s.ts["msg"],
                                          "name": "x" * 101}, "invalid_name"),
    ("alice", "reactions.add", lambda s: {"channel": s.channels["general"], "timestamp": s.ts["msg"],
                                          "name": "a:b"}, "invalid_name"),
    ("alice", "reactions.add", lambda s: {"channel": s.channels["attic"], "timestamp": s.ts["attic_msg"],
                                          "name": "wave"}, "is_archived"),
    ("bob", "reactions.add", lambda s: {"channel": s.channels["club"], "timestamp": s.ts["club_msg"],
                                        "name": "wave"}, "not_in_channel"),
    ("bob", "reactions.add", lambda s: {"channel": s.channels["secret"], "timestamp": s.ts["secret_msg"],
                                        "name": "wave"}, "channel_not_found"),
    # reactions.remove
    ("bob", "reactions.remove", lambda s: {"channel": s.channels["general"], "timestamp": s.ts["pinned"],
                                           "name": "wave"}, "no_reaction"),
    ("alice", "reactions.remove", lambda s: {"channel": s.channels["general"], "timestamp": s.ts["pinned"],
                                             "name": "tada"}, "no_reaction"),
    ("alice", "reactions.remove", lambda s: {"channel": s.channels["general"], "timestamp": "1.000001",
                                             "name": "wave"}, "message_not_found"),
    ("alice", "reactions.remove", lambda s: {"channel": s.channels["general"], "timestamp": s.ts["pinned"],
                                             "name": "!!"}, "invalid_name"),
    ("alice", "reactions.remove", lambda s: {"channel": s.channels["general"], "timestamp": "x",
                                             "name": "wave"}, "bad_timestamp"),
    ("alice", "reactions.remove", lambda s: {"channel": s.channels["attic"], "timestamp": s.ts["attic_msg"],
                                             "name": "wave"}, "is_archived"),
    ("bob", "reactions.remove", lambda s: {"channel": s.channels["club"], "timestamp": s.ts["club_msg"],
                                           "name": "wave"}, "not_in_channel"),
    # reactions.get
    ("alice", "reactions.get", lambda s: {"channel": s.channels["general"]}, "no_item_specified"),
    ("alice", "reactions.get", lambda s: {"channel": s.channels["general"], "timestamp": "1.000001"},
     "message_not_found"),
    ("alice", "reactions.get", lambda s: {"channel": s.channels["general"], "timestamp": "1.2.3"}, "bad_timestamp"),
    # pins.add
    ("alice", "pins.add", lambda s: {"timestamp": s.ts["msg"]}, "invalid_arguments"),
    ("alice", "pins.add", lambda s: {"channel": s.channels["general"]}, "no_item_specified"),
    ("alice", "pins.add", lambda s: {"channel": s.channels["general"], "timestamp": "soon"}, "bad_timestamp"),
    ("alice", "pins.add", lambda s: {"channel": s.channels["general"], "timestamp": "1.000001"}, "message_not_found"),
    ("owner", "pins.add", lambda s: {"channel": s.channels["general"], "timestamp": s.ts["secret_msg"]},
     "message_not_found"),
    ("bob", "pins.add", lambda s: {"channel": s.channels["general"], "timestamp": s.ts["pinned"]}, "already_pinned"),
    ("alice", "pins.add", lambda s: {"channel": s.channels["attic"], "timestamp": s.ts["attic_msg"]}, "is_archived"),
    ("bob", "pins.add", lambda s: {"channel": s.channels["club"], "timestamp": s.ts["club_msg"]}, "not_in_channel"),
    # pins.remove
    ("alice", "pins.remove", lambda s: {"channel": s.channels["general"], "timestamp": s.ts["msg"]}, "no_pin"),
    ("alice", "pins.remove", lambda s: {"channel": s.channels["general"], "timestamp": "1.000001"},
     "message_not_found"),
    ("alice", "pins.remove", lambda s: {"channel": s.channels["general"], "timestamp": "-"}, "bad_timestamp"),
    ("alice", "pins.remove", lambda s: {"channel": s.channels["attic"], "timestamp": s.ts["attic_msg"]},
     "is_archived"),
    ("bob", "pins.remove", lambda s: {"channel": s.channels["club"], "timestamp": s.ts["club_msg"]},
     "not_in_channel"),
    # pins.list
    ("alice", "pins.list", lambda s: {}, "invalid_arguments"),
    ("alice", "pins.list", lambda s: {"channel": "CNOSUCHCHAN"}, "channel_not_found"),
]


@pytest.mark.parametrize(("who", "method", "args", "expected"), ERRORS,
                         ids=[f"{c[1]}-{c[3]}-{i}" for i, c in enumerate(ERRORS)])
def test_error_codes_write_nothing(
    scene: Scene, who: str, method: str, args: Callable[[Scene], dict[str, Any]], expected: str
) -> None:
    """Each bad reactions/pins call answers its precise Slack error and leaves every table as it was."""
    person = {"alice": scene.alice, "bob": scene.bob, "owner": scene.owner}[who]
    before = snapshot(scene.cell)
    assert error_of(lambda: scene.client(person).api_call(method, data=args(scene))) == expected
    assert snapshot(scene.cell) == before
