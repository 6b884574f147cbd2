"""Threads: replies, broadcasts, conversations.replies and deletes inside threads, via slack_sdk."""

from __future__ import annotations

import asyncio
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
    posted_rows,
    snapshot,
    top_level,
    web,
)


def thread(client: WebClient, channel: str, ts: str) -> list[dict[str, Any]]:
    return list(client.conversations_replies(channel=channel, ts=ts)["messages"])


def two_people(cell: RunningCell) -> tuple[Workspace, Person, WebClient, WebClient]:
    ws = cell.workspace()
    ann = cell.user(ws, "ann")
    return ws, ann, web(cell, ws.owner), web(cell, ann)


def test_replies_carry_thread_ts_and_the_root_counts_them(cell: RunningCell) -> None:
    """Replies carry thread_ts and parent_user_id; the root shows reply_count, reply_users,
    reply_users_count and latest_reply, in history and in conversations.replies."""
    ws, ann, owner, ann_c = two_people(cell)
    root = owner.chat_postMessage(channel=ws.general, text="root")["ts"]
    r1 = ann_c.chat_postMessage(channel=ws.general, text="r1", thread_ts=root)
    r2 = owner.chat_postMessage(channel=ws.general, text="r2", thread_ts=root)
    ann_c.chat_postMessage(channel=ws.general, text="r3", thread_ts=root)
    latest = ann_c.chat_postMessage(channel=ws.general, text="r4", thread_ts=root)["ts"]
    assert (r1["message"]["thread_ts"], r1["message"]["parent_user_id"]) == (root, ws.owner.id)
    [in_history] = top_level(owner, ws.general)
    in_thread = thread(owner, ws.general, root)[0]
    for parent in (in_history, in_thread):
        assert {k: parent[k] for k in ("ts", "thread_ts", "reply_count", "reply_users", "reply_users_count",
                                       "latest_reply")} == {
            "ts": root, "thread_ts": root, "reply_count": 4, "reply_users": [ann.id, ws.owner.id],
            "reply_users_count": 2, "latest_reply": latest}
    assert r2["message"]["thread_ts"] == root


def test_a_reply_to_a_reply_joins_the_root_thread(cell: RunningCell) -> None:
    """thread_ts naming a reply attaches the new reply to that reply's root."""
    ws, _, owner, ann_c = two_people(cell)
    root = owner.chat_postMessage(channel=ws.general, text="root")["ts"]
    first = ann_c.chat_postMessage(channel=ws.general, text="first", thread_ts=root)["ts"]
    nested = owner.chat_postMessage(channel=ws.general, text="nested", thread_ts=first)
    assert nested["message"]["thread_ts"] == root
    assert [m["text"] for m in thread(owner, ws.general, root)] == ["root", "first", "nested"]
    assert thread(owner, ws.general, root)[0]["reply_count"] == 2


def test_replies_stay_out_of_history_unless_broadcast(cell: RunningCell) -> None:
    """A plain reply is only in the thread; reply_broadcast also shows it in history as thread_broadcast."""
    ws, _, owner, ann_c = two_people(cell)
    root = owner.chat_postMessage(channel=ws.general, text="root")["ts"]
    ann_c.chat_postMessage(channel=ws.general, text="quiet", thread_ts=root)
    loud = ann_c.chat_postMessage(channel=ws.general, text="loud", thread_ts=root, reply_broadcast=True)["ts"]
    history = top_level(owner, ws.general)
    assert [(m["text"], m.get("subtype")) for m in history] == [("loud", "thread_broadcast"), ("root", None)]
    assert history[0]["thread_ts"] == root
    assert [m["ts"] for m in thread(owner, ws.general, root)][-1] == loud


def test_reply_broadcast_without_thread_is_a_plain_message(cell: RunningCell) -> None:
    """reply_broadcast without thread_ts posts an ordinary top-level message."""
    ws, _, owner, _ = two_people(cell)
    posted = owner.chat_postMessage(channel=ws.general, text="solo", reply_broadcast=True)
    assert ("thread_ts" in posted["message"], posted["message"].get("subtype")) == (False, None)


def test_reply_writes_message_and_message_replied_events(cell: RunningCell) -> None:
    """A reply writes its `message` event and a `message_replied` event carrying the updated root."""
    ws, ann, owner, ann_c = two_people(cell)
    root = owner.chat_postMessage(channel=ws.general, text="root")["ts"]
    mark = last_outbox_id(cell)
    reply = ann_c.chat_postMessage(channel=ws.general, text="r", thread_ts=root)["ts"]
    message, replied = (e["payload"] for e in outbox(cell, after=mark))
    assert (message["type"], message["ts"], message["thread_ts"]) == ("message", reply, root)
    assert (replied["subtype"], replied["message"]["ts"], replied["message"]["reply_count"],
            replied["message"]["latest_reply"], replied["message"]["reply_users"]) == (
        "message_replied", root, 1, reply, [ann.id])


def test_replies_of_a_message_without_replies_is_the_message_alone(cell: RunningCell) -> None:
    """conversations.replies on an unthreaded message returns just that message."""
    ws, _, owner, _ = two_people(cell)
    posted = owner.chat_postMessage(channel=ws.general, text="alone")["ts"]
    answer = owner.conversations_replies(channel=ws.general, ts=posted)
    assert ([m["ts"] for m in answer["messages"]], answer["has_more"]) == ([posted], False)


def test_replies_named_by_a_reply_ts_return_the_whole_thread(cell: RunningCell) -> None:
    """conversations.replies with a reply's ts returns the root and every reply."""
    ws, _, owner, ann_c = two_people(cell)
    root = owner.chat_postMessage(channel=ws.general, text="root")["ts"]
    first = ann_c.chat_postMessage(channel=ws.general, text="a", thread_ts=root)["ts"]
    ann_c.chat_postMessage(channel=ws.general, text="b", thread_ts=root)
    assert [m["text"] for m in thread(owner, ws.general, first)] == ["root", "a", "b"]


def test_replies_pages_with_a_cursor_root_first_then_ts_order(cell: RunningCell) -> None:
    """Paging conversations.replies (limit 2) yields the root once, first, then every reply in ts
    order, with has_more and next_cursor as in history."""
    ws, _, owner, ann_c = two_people(cell)
    root = owner.chat_postMessage(channel=ws.general, text="root")["ts"]
    replies = [ann_c.chat_postMessage(channel=ws.general, text=f"r{i}", thread_ts=root)["ts"] for i in range(5)]
    owner.chat_postMessage(channel=ws.general, text="elsewhere")
    pages = [  # slack_sdk's iterator follows next_cursor, reusing one response object
        ([m["ts"] for m in page["messages"]], page["has_more"], page["response_metadata"]["next_cursor"] != "")
        for page in owner.conversations_replies(channel=ws.general, ts=root, limit=2)
    ]
    assert pages == [([root, replies[0]], True, True), (replies[1:3], True, True), (replies[3:5], False, False)]


def test_replies_honours_oldest_latest_and_inclusive(cell: RunningCell) -> None:
    """oldest/latest bound the replies (inclusive keeps the bounds); the root still comes first."""
    ws, _, owner, ann_c = two_people(cell)
    root = owner.chat_postMessage(channel=ws.general, text="root")["ts"]
    r = [ann_c.chat_postMessage(channel=ws.general, text=f"r{i}", thread_ts=root)["ts"] for i in range(4)]

    def window(**bounds: Any) -> list[str]:
        return [m["ts"] for m in owner.conversations_replies(channel=ws.general, ts=root, **bounds)["messages"]]

    assert window(oldest=r[0], latest=r[3]) == [root, r[1], r[2]]
    assert window(oldest=r[0], latest=r[3], inclusive=True) == [root, *r]
    assert window(oldest=r[2]) == [root, r[3]]


def test_replies_through_the_async_client(cell: RunningCell) -> None:
    """AsyncWebClient reads a thread like the sync client."""
    ws, _, owner, ann_c = two_people(cell)
    root = owner.chat_postMessage(channel=ws.general, text="root")["ts"]
    ann_c.chat_postMessage(channel=ws.general, text="r", thread_ts=root)

    async def read() -> list[str]:
        answer = await aweb(cell, ws.owner).conversations_replies(channel=ws.general, ts=root)
        return [m["text"] for m in answer["messages"]]

    assert asyncio.run(read()) == ["root", "r"]


# --- deleting inside threads -------------------------------------------------------------


def test_deleting_a_reply_recounts_the_root(cell: RunningCell) -> None:
    """Deleting a reply updates the root's reply_count, reply_users and latest_reply, and emits
    message_deleted for the reply and message_changed for the root."""
    ws, ann, owner, ann_c = two_people(cell)
    root = owner.chat_postMessage(channel=ws.general, text="root")["ts"]
    first = ann_c.chat_postMessage(channel=ws.general, text="a1", thread_ts=root)["ts"]
    owner.chat_postMessage(channel=ws.general, text="o1", thread_ts=root)
    last = ann_c.chat_postMessage(channel=ws.general, text="a2", thread_ts=root)["ts"]
    mark = last_outbox_id(cell)
    middle = next(m["ts"] for m in thread(owner, ws.general, root) if m["text"] == "o1")
    owner.chat_delete(channel=ws.general, ts=middle)
    parent = thread(owner, ws.general, root)[0]
    assert (parent["reply_count"], parent["reply_users"], parent["reply_users_count"], parent["latest_reply"]) == (
        2, [ann.id], 1, last)
    ann_c.chat_delete(channel=ws.general, ts=last)
    parent = thread(owner, ws.general, root)[0]
    assert (parent["reply_count"], parent["reply_users"], parent["latest_reply"]) == (1, [ann.id], first)
    events = [(e["payload"]["subtype"], e["payload"].get("deleted_ts"), e["payload"].get("message", {}).get("ts"))
              for e in outbox(cell, after=mark)]
    assert [e[0] for e in events] == ["message_deleted", "message_changed"] * 2
    assert events[2][1] == last and events[3][2] == root


def test_deleting_the_last_reply_makes_the_root_plain_again(cell: RunningCell) -> None:
    """When no reply is left the root loses thread_ts and its reply fields."""
    ws, _, owner, ann_c = two_people(cell)
    root = owner.chat_postMessage(channel=ws.general, text="root")["ts"]
    reply = ann_c.chat_postMessage(channel=ws.general, text="r", thread_ts=root)["ts"]
    ann_c.chat_delete(channel=ws.general, ts=reply)
    [parent] = top_level(owner, ws.general)
    assert [k for k in ("thread_ts", "reply_count", "reply_users", "latest_reply") if k in parent] == []
    assert [m["ts"] for m in thread(owner, ws.general, root)] == [root]


def test_deleting_a_broadcast_reply_removes_it_from_history_and_thread(cell: RunningCell) -> None:
    """A deleted broadcast reply is gone from both history and the thread."""
    ws, _, owner, ann_c = two_people(cell)
    root = owner.chat_postMessage(channel=ws.general, text="root")["ts"]
    loud = ann_c.chat_postMessage(channel=ws.general, text="loud", thread_ts=root, reply_broadcast=True)["ts"]
    ann_c.chat_delete(channel=ws.general, ts=loud)
    assert [m["ts"] for m in top_level(owner, ws.general)] == [root]
    assert [m["ts"] for m in thread(owner, ws.general, root)] == [root]


def test_deleting_a_root_deletes_the_whole_thread(cell: RunningCell) -> None:
    """Deleting a thread's root deletes every reply too, with one message_deleted per message."""
    ws, _, owner, ann_c = two_people(cell)
    root = owner.chat_postMessage(channel=ws.general, text="root")["ts"]
    replies = [ann_c.chat_postMessage(channel=ws.general, text=f"r{i}", thread_ts=root,
                                      reply_broadcast=i == 0)["ts"] for i in range(3)]
    ann_c.reactions_add(channel=ws.general, timestamp=replies[1], name="eyes")
    mark = last_outbox_id(cell)
    owner.chat_delete(channel=ws.general, ts=root)
    assert top_level(owner, ws.general) == []
    assert error_of(lambda: owner.conversations_replies(channel=ws.general, ts=root)) == "thread_not_found"
    deleted = [e["payload"]["deleted_ts"] for e in outbox(cell, after=mark)
               if e["payload"].get("subtype") == "message_deleted"]
    assert deleted == [*replies, root]
    assert (posted_rows(cell, ws.general), snapshot(cell, ws.id)["reactions"]) == (0, [])


def test_posting_into_a_deleted_thread_is_thread_not_found(cell: RunningCell) -> None:
    """Once a root is deleted, replying to it (or to one of its replies) is thread_not_found."""
    ws, _, owner, ann_c = two_people(cell)
    root = owner.chat_postMessage(channel=ws.general, text="root")["ts"]
    reply = ann_c.chat_postMessage(channel=ws.general, text="r", thread_ts=root)["ts"]
    owner.chat_delete(channel=ws.general, ts=root)
    before = snapshot(cell)
    for target in (root, reply):
        assert error_of(lambda t=target: ann_c.chat_postMessage(  # type: ignore[misc]
            channel=ws.general, text="late", thread_ts=t)) == "thread_not_found"
    assert snapshot(cell) == before


def test_racing_replies_deletes_and_reactions_keep_the_root_exact(cell: RunningCell) -> None:
    """Replies posted while other replies are deleted, edited and reacted to, all at once: no call
    fails and the root's reply_count, reply_users and latest_reply match the replies that remain."""
    ws = cell.workspace()
    people = [ws.owner, *(cell.user(ws, f"p{i}") for i in range(3))]
    owner = web(cell, ws.owner)
    root = owner.chat_postMessage(channel=ws.general, text="root")["ts"]
    early = [web(cell, people[i % 4]).chat_postMessage(channel=ws.general, text=f"e{i}", thread_ts=root)["ts"]
             for i in range(12)]

    async def storm() -> None:
        clients = [aweb(cell, person) for person in people]
        calls: list[Any] = []
        for i in range(24):
            calls.append(clients[i % 4].chat_postMessage(channel=ws.general, text=f"n{i}", thread_ts=root))
        for i, ts in enumerate(early):
            author = clients[i % 4]
            if i % 3 == 0:
                calls.append(author.chat_delete(channel=ws.general, ts=ts))
            elif i % 3 == 1:
                calls.append(author.chat_update(channel=ws.general, ts=ts, text="edited"))
            else:
                calls.append(clients[(i + 1) % 4].reactions_add(channel=ws.general, timestamp=ts, name="ok"))
        await asyncio.gather(*calls)

    asyncio.run(storm())
    messages = thread(owner, ws.general, root)
    parent, replies = messages[0], messages[1:]
    first_reply_of: dict[str, str] = {}
    for reply in replies:
        first_reply_of.setdefault(reply["user"], reply["ts"])
    assert (parent["reply_count"], parent["latest_reply"], parent["reply_users"]) == (
        len(replies), replies[-1]["ts"], sorted(first_reply_of, key=lambda u: first_reply_of[u]))
    assert len(replies) == 12 - 4 + 24


# --- conversations.replies errors, over real HTTP, writing nothing -----------------------

ERRORS: list[tuple[str, Callable[[Scene], dict[str, Any]], str]] = [
    ("alice", lambda s: {"channel": s.channels["general"]}, "invalid_arguments"),
    ("alice", lambda s: {"ts": s.ts["msg"]}, "invalid_arguments"),
    ("alice", lambda s: {"channel": s.channels["general"], "ts": "1.000001"}, "thread_not_found"),
    ("alice", lambda s: {"channel": s.channels["general"], "ts": "noon"}, "thread_not_found"),
    ("owner", lambda s: {"channel": s.channels["general"], "ts": s.ts["secret_msg"]}, "thread_not_found"),
    ("alice", lambda s: {"channel": s.channels["general"], "ts": s.ts["msg"], "latest": "soon"}, "invalid_ts_latest"),
    ("alice", lambda s: {"channel": s.channels["general"], "ts": s.ts["msg"], "oldest": "-1"}, "invalid_ts_oldest"),
    ("alice", lambda s: {"channel": s.channels["general"], "ts": s.ts["msg"], "cursor": "bm9wZQ"}, "invalid_cursor"),
    ("alice", lambda s: {"channel": s.channels["general"], "ts": s.ts["msg"], "cursor": "cmVwbGllczp4"},
     "invalid_cursor"),
    ("alice", lambda s: {"channel": s.channels["general"], "ts": s.ts["msg"], "limit": "0"}, "invalid_arguments"),
    ("bob", lambda s: {"channel": s.channels["secret"], "ts": s.ts["secret_msg"]}, "channel_not_found"),
    ("alice", lambda s: {"channel": "CNOSUCHCHAN", "ts": s.ts["msg"]}, "channel_not_found"),
]


@pytest.mark.parametrize(("who", "args", "expected"), ERRORS, ids=[f"{c[2]}-{i}" for i, c in enumerate(ERRORS)])
def test_replies_errors_write_nothing(
    scene: Scene, who: str, args: Callable[[Scene], dict[str, Any]], expected: str
) -> None:
    """Each bad conversations.replies call answers its Slack error and changes nothing."""
    person = {"alice": scene.alice, "bob": scene.bob, "owner": scene.owner}[who]
    before = snapshot(scene.cell)
    assert error_of(lambda: scene.client(person).api_call("conversations.replies", data=args(scene))) == expected
    assert snapshot(scene.cell) == before


def test_public_channel_threads_are_readable_by_non_members(scene: Scene) -> None:
    """A public channel's thread can be read by a workspace member who has not joined it."""
    answer = scene.client(scene.bob).conversations_replies(channel=scene.channels["club"], ts=scene.ts["club_msg"])
    assert [m["text"] for m in answer["messages"]] == ["members only talk"]
