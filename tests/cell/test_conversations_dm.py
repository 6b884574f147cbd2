"""conversations.open|close: 1:1 and group DMs, one conversation per set of people, also under races."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.support.cells import RunningCell, Workspace
from tests.support.conversations import client, outbox_after, outbox_position, slack_error


def dm_rows(cell: RunningCell, workspace_id: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(cell.dsn) as conn:
        rows = conn.execute(
            "SELECT channel_id, kind, dm_key FROM channels WHERE workspace_id = %s AND dm_key IS NOT NULL",
            (workspace_id,),
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def test_open_dm_is_the_same_conversation_from_both_sides(cell: RunningCell, ws: Workspace) -> None:
    """Alice opening a DM with Bob, again, and Bob opening one with Alice all give one D… id."""
    alice, bob = client(cell, ws.owner), cell.user(ws, "bob")
    first = alice.conversations_open(users=bob.id)
    assert first["channel"] == {"id": first["channel"]["id"]} and first["channel"]["id"].startswith("D")
    assert "already_open" not in first.data
    again = alice.conversations_open(users=bob.id)
    reverse = client(cell, bob).conversations_open(users=ws.owner.id)
    assert again["channel"]["id"] == reverse["channel"]["id"] == first["channel"]["id"]
    assert (again["no_op"], again["already_open"]) == (True, True)
    assert len(dm_rows(cell, ws.id)) == 1


def test_open_with_return_im_gives_the_whole_dm(cell: RunningCell, ws: Workspace) -> None:
    """return_im=true answers with the conversation as the caller sees it (the other person in `user`)."""
    alice, bob = client(cell, ws.owner), cell.user(ws, "bob")
    dm = alice.conversations_open(users=bob.id, return_im=True)["channel"]
    assert (dm["is_im"], dm["user"], dm["is_open"], dm["is_member"]) == (True, bob.id, True, True)
    seen_by_bob = client(cell, bob).conversations_info(channel=dm["id"])["channel"]
    assert seen_by_bob["user"] == ws.owner.id


def test_dm_with_yourself(cell: RunningCell, ws: Workspace) -> None:
    """Opening a DM with only yourself gives your own notes DM, the same one each time."""
    alice = client(cell, ws.owner)
    mine = alice.conversations_open(users=ws.owner.id, return_im=True)["channel"]
    assert (mine["is_im"], mine["user"]) == (True, ws.owner.id)
    assert alice.conversations_open(users=ws.owner.id)["channel"]["id"] == mine["id"]
    assert alice.conversations_members(channel=mine["id"])["members"] == [ws.owner.id]


def test_open_writes_im_created_for_each_member(cell: RunningCell, ws: Workspace) -> None:
    """A new DM is told to each of its two people on their own topic, with the DM as each sees it."""
    alice, bob = client(cell, ws.owner), cell.user(ws, "bob")
    mark = outbox_position(cell)
    dm = alice.conversations_open(users=bob.id)["channel"]["id"]
    events = outbox_after(cell, ws.id, mark)
    assert [(t, k) for t, k, _ in events] == [(p, "im_created") for p in sorted([ws.owner.id, bob.id])]
    for topic, _, payload in events:
        other = bob.id if topic == ws.owner.id else ws.owner.id
        assert (payload["user"], payload["channel"]["id"], payload["channel"]["user"]) == (ws.owner.id, dm, other)
    alice.conversations_open(users=bob.id)
    assert len(outbox_after(cell, ws.id, mark)) == 2


def test_group_dm_is_one_conversation_per_set_of_people(cell: RunningCell, ws: Workspace) -> None:
    """A group DM (G…, mpim) is found again from any member in any order; a different set is another one."""
    alice, bob, carol, dave = client(cell, ws.owner), cell.user(ws, "bob"), cell.user(ws, "carol"), cell.user(ws, "dave")
    group = alice.conversations_open(users=[bob.id, carol.id])["channel"]
    assert (group["id"][0], group["is_mpim"], group["is_private"]) == ("G", True, True)
    assert group["name"].startswith("mpdm-") and group["is_open"] is True
    assert client(cell, carol).conversations_open(users=[ws.owner.id, bob.id])["channel"]["id"] == group["id"]
    assert sorted(alice.conversations_members(channel=group["id"])["members"]) == sorted([ws.owner.id, bob.id, carol.id])
    bigger = alice.conversations_open(users=[bob.id, carol.id, dave.id])["channel"]["id"]
    assert bigger != group["id"]


def test_group_dm_events(cell: RunningCell, ws: Workspace) -> None:
    """A new group DM is told to each member (mpim_joined) and opened for its opener (mpim_open)."""
    alice, bob, carol = client(cell, ws.owner), cell.user(ws, "bob"), cell.user(ws, "carol")
    mark = outbox_position(cell)
    group = alice.conversations_open(users=[bob.id, carol.id])["channel"]["id"]
    events = outbox_after(cell, ws.id, mark)
    joined = sorted(str(t) for t, k, _ in events if k == "mpim_joined")
    assert joined == sorted([ws.owner.id, bob.id, carol.id])
    assert [(t, p) for t, k, p in events if k == "mpim_open"] == [
        (ws.owner.id, {"type": "mpim_open", "user": ws.owner.id, "channel": group})]


def test_close_then_reopen(cell: RunningCell, ws: Workspace) -> None:
    """close hides the DM for the caller only; opening it again (by users or by channel) shows it again."""
    alice, bob = client(cell, ws.owner), cell.user(ws, "bob")
    dm = alice.conversations_open(users=bob.id)["channel"]["id"]
    mark = outbox_position(cell)
    assert alice.conversations_close(channel=dm).data == {"ok": True}
    assert alice.conversations_info(channel=dm)["channel"]["is_open"] is False
    assert client(cell, bob).conversations_info(channel=dm)["channel"]["is_open"] is True
    again = alice.conversations_close(channel=dm)
    assert (again["no_op"], again["already_closed"]) == (True, True)
    reopened = alice.conversations_open(channel=dm)
    assert reopened["channel"]["id"] == dm and "already_open" not in reopened.data
    assert alice.conversations_info(channel=dm)["channel"]["is_open"] is True
    assert outbox_after(cell, ws.id, mark) == [
        (ws.owner.id, "im_close", {"type": "im_close", "user": ws.owner.id, "channel": dm}),
        (ws.owner.id, "im_open", {"type": "im_open", "user": ws.owner.id, "channel": dm}),
    ]


def test_a_new_message_reopens_a_closed_dm_for_its_members(cell: RunningCell, ws: Workspace) -> None:
    """When bob writes into a DM alice closed, it is back in alice's sidebar (im_open for her)."""
    alice, bob = client(cell, ws.owner), cell.user(ws, "bob")
    dm = alice.conversations_open(users=bob.id)["channel"]["id"]
    alice.conversations_close(channel=dm)
    mark = outbox_position(cell)
    client(cell, bob).chat_postMessage(channel=dm, text="still there?")
    assert alice.conversations_info(channel=dm)["channel"]["is_open"] is True
    reopened = [(topic, payload) for topic, kind, payload in outbox_after(cell, ws.id, mark) if kind == "im_open"]
    assert reopened == [(ws.owner.id, {"type": "im_open", "user": ws.owner.id, "channel": dm})]


def test_open_and_close_errors(cell: RunningCell, ws: Workspace) -> None:
    """users_list_not_supplied, user_not_found, too_many_users, and channels that aren't DMs."""
    alice = client(cell, ws.owner)
    people = [cell.user(ws, f"p{i}") for i in range(9)]
    assert slack_error(alice.conversations_open, users="") == "users_list_not_supplied"
    assert slack_error(alice.conversations_open, users="U0000000000") == "user_not_found"
    assert slack_error(alice.conversations_open, users=[people[0].id, "nobody"]) == "user_not_found"
    assert slack_error(alice.conversations_open, users=[p.id for p in people]) == "too_many_users"
    assert alice.conversations_open(users=[p.id for p in people[:8]])["channel"]["is_mpim"] is True
    assert slack_error(alice.conversations_open, channel=ws.general) == "method_not_supported_for_channel_type"
    assert slack_error(alice.conversations_close, channel=ws.general) == "method_not_supported_for_channel_type"
    assert slack_error(alice.conversations_open, channel="D0000000000") == "channel_not_found"
    assert slack_error(alice.conversations_close, channel="D0000000000") == "channel_not_found"


def test_other_people_cannot_see_a_dm(cell: RunningCell, ws: Workspace) -> None:
    """A DM doesn't exist for a third person: reading, reopening, closing, marking, posting all say channel_not_found."""
    alice, bob, carol = client(cell, ws.owner), cell.user(ws, "bob"), cell.user(ws, "carol")
    dm = alice.conversations_open(users=bob.id)["channel"]["id"]
    carolc = client(cell, carol)
    calls: list[tuple[Callable[..., Any], dict[str, Any]]] = [
        (carolc.conversations_info, {}), (carolc.conversations_open, {}), (carolc.conversations_close, {}),
        (carolc.conversations_members, {}), (carolc.conversations_history, {}),
        (carolc.conversations_mark, {"ts": "1.000001"}), (carolc.chat_postMessage, {"text": "hi"}),
    ]
    for call, kwargs in calls:
        assert slack_error(call, channel=dm, **kwargs) == "channel_not_found", call


def test_twenty_concurrent_opens_of_one_pair_make_one_dm(cell: RunningCell, ws: Workspace) -> None:
    """20 simultaneous conversations.open from both sides of a pair all answer with the same id; one row exists."""
    bob = cell.user(ws, "bob")
    callers = [(client(cell, ws.owner), bob.id), (client(cell, bob), ws.owner.id)] * 10
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda c: c[0].conversations_open(users=c[1])["channel"]["id"], callers))
    assert len(set(answers)) == 1
    assert dm_rows(cell, ws.id) == [(answers[0], "im", ",".join(sorted([ws.owner.id, bob.id])))]
    with psycopg.connect(cell.dsn) as conn:
        created = conn.execute(
            "SELECT count(*) FROM outbox WHERE workspace_id = %s AND event_type = 'im_created'", (ws.id,)
        ).fetchone()
    assert created == (2,)


@pytest.mark.anyio
async def test_concurrent_group_dm_opens_through_async_client(cell: RunningCell, ws: Workspace) -> None:
    """AsyncWebClient: 20 concurrent opens of one group DM, from its three members in any order, agree."""
    bob, carol = cell.user(ws, "bob"), cell.user(ws, "carol")
    people = {ws.owner.id: ws.owner, bob.id: bob, carol.id: carol}
    calls = []
    for i in range(20):
        me = list(people)[i % 3]
        others = [p for p in people if p != me][:: 1 if i % 2 else -1]
        calls.append(AsyncWebClient(token=people[me].token, base_url=cell.api).conversations_open(users=others))
    answers = await asyncio.gather(*calls)
    assert len({a["channel"]["id"] for a in answers}) == 1
    assert [kind for _, kind, _ in dm_rows(cell, ws.id)] == ["mpim"]


@pytest.mark.anyio
async def test_async_client_open_list_and_close(cell: RunningCell, ws: Workspace) -> None:
    """AsyncWebClient drives open, list (types=im) and close like the sync client."""
    bob = cell.user(ws, "bob")
    alice = AsyncWebClient(token=ws.owner.token, base_url=cell.api)
    dm = (await alice.conversations_open(users=[bob.id], return_im=True))["channel"]
    listed = (await alice.conversations_list(types="im"))["channels"]
    assert [(c["id"], c["user"]) for c in listed] == [(dm["id"], bob.id)]
    assert (await alice.conversations_close(channel=dm["id"]))["ok"]
    with pytest.raises(SlackApiError) as failed:
        await alice.conversations_open(users=["U0000000000"])
    assert failed.value.response["error"] == "user_not_found"
