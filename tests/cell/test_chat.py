"""chat.postMessage, chat.update, chat.delete and mentions, through slack_sdk against a real cell."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.support.cells import RunningCell
from tests.support.chat import (
    SCENE_CLIENT_MSG_ID,
    Scene,
    aweb,
    error_of,
    last_outbox_id,
    mentions,
    outbox,
    snapshot,
    top_level,
    web,
)

# --- chat.postMessage -----------------------------------------------------------------


def test_post_returns_the_message_and_writes_one_outbox_event(cell: RunningCell) -> None:
    """chat.postMessage answers channel, ts and the message, and writes one `message` outbox row."""
    ws = cell.workspace()
    before = last_outbox_id(cell)
    posted = web(cell, ws.owner).chat_postMessage(channel=ws.general, text="hello cells")
    assert (posted["channel"], posted["message"]["text"], posted["message"]["user"]) == (
        ws.general, "hello cells", ws.owner.id)
    [event] = outbox(cell, after=before)
    assert (event["event_type"], event["channel_id"]) == ("message", ws.general)
    assert {k: event["payload"][k] for k in ("type", "channel", "ts", "text", "user", "channel_type")} == {
        "type": "message", "channel": ws.general, "ts": posted["ts"], "text": "hello cells",
        "user": ws.owner.id, "channel_type": "C"}


def test_post_keeps_blocks_and_attachments(cell: RunningCell) -> None:
    """Blocks and attachments sent by slack_sdk come back unchanged in history."""
    ws = cell.workspace()
    client = web(cell, ws.owner)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*bold*"}}]
    attachments = [{"fallback": "fb", "text": "attached"}]
    client.chat_postMessage(channel=ws.general, text="fallback", blocks=blocks, attachments=attachments)
    [message] = top_level(client, ws.general)
    assert (message["blocks"], message["attachments"]) == (blocks, attachments)


def test_retry_with_the_same_client_msg_id_returns_the_original(cell: RunningCell) -> None:
    """A sequential retry with the same client_msg_id answers the first message and adds no row."""
    ws = cell.workspace()
    client = web(cell, ws.owner)
    first = client.chat_postMessage(channel=ws.general, text="once", client_msg_id="retry-1")
    second = client.chat_postMessage(channel=ws.general, text="once", client_msg_id="retry-1")
    assert second["ts"] == first["ts"]
    assert [m["ts"] for m in top_level(client, ws.general)] == [first["ts"]]
    assert len(outbox(cell, event_type="message")) == 1


def test_twenty_concurrent_retries_make_one_message(cell: RunningCell) -> None:
    """20 identical chat.postMessage calls racing with one client_msg_id: one row, one ts for all."""
    ws = cell.workspace()
    client = web(cell, ws.owner)
    start = threading.Barrier(20)
    answers: list[str] = []
    lock = threading.Lock()

    def send() -> None:
        start.wait()
        ts = client.chat_postMessage(channel=ws.general, text="only once", client_msg_id="race-20")["ts"]
        with lock:
            answers.append(ts)

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 20
    assert len(set(answers)) == 1
    with psycopg.connect(cell.dsn) as conn:
        rows = conn.execute("SELECT count(*) FROM messages WHERE client_msg_id = 'race-20'").fetchone()
    assert rows == (1,)
    assert [e["payload"]["ts"] for e in outbox(cell, event_type="message")] == answers[:1]


def test_fifty_concurrent_posters_get_unique_increasing_ts_in_commit_order(cell: RunningCell) -> None:
    """50 posters at once in one channel: unique ts, increasing in commit (outbox) order, and
    history lists them in ts order."""
    ws = cell.workspace()
    people = [ws.owner, *(cell.user(ws, f"poster{i}") for i in range(4))]

    async def post_all() -> list[str]:
        clients = [aweb(cell, person) for person in people]
        calls = [clients[i % len(clients)].chat_postMessage(channel=ws.general, text=f"m{i}") for i in range(50)]
        return [answer["ts"] for answer in await asyncio.gather(*calls)]

    answered = asyncio.run(post_all())
    assert len(set(answered)) == 50
    committed = [e["payload"]["ts"] for e in outbox(cell, event_type="message")]
    assert sorted(committed) == sorted(answered)
    assert committed == sorted(committed, key=lambda ts: tuple(map(int, ts.split("."))))
    history = [m["ts"] for m in top_level(web(cell, ws.owner), ws.general)]
    assert history == list(reversed(committed))


def test_post_through_the_async_client(cell: RunningCell) -> None:
    """AsyncWebClient posts, edits and deletes like the sync client."""
    ws = cell.workspace()

    async def scenario() -> tuple[str, str]:
        client = aweb(cell, ws.owner)
        posted = await client.chat_postMessage(channel=ws.general, text="async hello")
        edited = await client.chat_update(channel=ws.general, ts=posted["ts"], text="async edit")
        history = await client.conversations_history(channel=ws.general)
        await client.chat_delete(channel=ws.general, ts=posted["ts"])
        return edited["text"], history["messages"][0]["text"]

    assert asyncio.run(scenario()) == ("async edit", "async edit")
    assert top_level(web(cell, ws.owner), ws.general) == []


# --- mentions ---------------------------------------------------------------------------


def test_post_stores_user_and_broadcast_mentions(cell: RunningCell) -> None:
    """<@U…>, <!here>, <!channel>, <!everyone> are stored; ids of no one in the workspace are not."""
    ws, other = cell.workspace(), cell.workspace("other")
    ann = cell.user(ws, "ann")
    text = (f"hey <@{ann.id}> and <@{ann.id}|ann>, <!here> <!channel|@channel> <!everyone>,"
            f" not <@UNOBODY0000> nor <@{other.owner.id}>")
    posted = web(cell, ws.owner).chat_postMessage(channel=ws.general, text=text)
    assert mentions(cell, ws.general, posted["ts"]) == {ann.id, "here", "channel", "everyone"}


def test_post_stores_mentions_from_rich_text_blocks(cell: RunningCell) -> None:
    """User and broadcast elements of rich-text blocks count as mentions too."""
    ws = cell.workspace()
    ann = cell.user(ws, "ann")
    blocks = [{"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [
        {"type": "user", "user_id": ann.id}, {"type": "text", "text": " look "},
        {"type": "broadcast", "range": "here"}]}]}]
    posted = web(cell, ws.owner).chat_postMessage(channel=ws.general, text="look", blocks=blocks)
    assert mentions(cell, ws.general, posted["ts"]) == {ann.id, "here"}


def test_update_parses_mentions_again(cell: RunningCell) -> None:
    """chat.update replaces the message's mentions with those of the new text."""
    ws = cell.workspace()
    ann, ben = cell.user(ws, "ann"), cell.user(ws, "ben")
    client = web(cell, ws.owner)
    posted = client.chat_postMessage(channel=ws.general, text=f"<@{ann.id}> <!here>")
    client.chat_update(channel=ws.general, ts=posted["ts"], text=f"<@{ben.id}> <!channel>")
    assert mentions(cell, ws.general, posted["ts"]) == {ben.id, "channel"}


# --- chat.update ------------------------------------------------------------------------


def test_update_changes_the_text_and_stamps_edited(cell: RunningCell) -> None:
    """The author's edit shows in history with edited {user, ts}; other fields stay."""
    ws = cell.workspace()
    client = web(cell, ws.owner)
    posted = client.chat_postMessage(channel=ws.general, text="draft")
    answer = client.chat_update(channel=ws.general, ts=posted["ts"], text="final")
    assert (answer["channel"], answer["ts"], answer["text"]) == (ws.general, posted["ts"], "final")
    [message] = top_level(client, ws.general)
    assert (message["ts"], message["text"], message["user"]) == (posted["ts"], "final", ws.owner.id)
    assert message["edited"]["user"] == ws.owner.id
    assert tuple(map(int, message["edited"]["ts"].split("."))) > tuple(map(int, posted["ts"].split(".")))


def test_update_emits_message_changed_with_new_and_previous(cell: RunningCell) -> None:
    """chat.update writes a `message_changed` outbox event: `message` new, `previous_message` old."""
    ws = cell.workspace()
    client = web(cell, ws.owner)
    posted = client.chat_postMessage(channel=ws.general, text="before")
    mark = last_outbox_id(cell)
    client.chat_update(channel=ws.general, ts=posted["ts"], text="after")
    [event] = outbox(cell, after=mark)
    payload = event["payload"]
    assert (event["event_type"], payload["type"], payload["subtype"], payload["channel"]) == (
        "message", "message", "message_changed", ws.general)
    assert (payload["message"]["ts"], payload["message"]["text"], payload["previous_message"]["text"]) == (
        posted["ts"], "after", "before")
    assert payload["message"]["edited"]["user"] == ws.owner.id


def test_update_keeps_blocks_unless_replaced(cell: RunningCell) -> None:
    """Without blocks an edit keeps the old ones; an empty list removes them."""
    ws = cell.workspace()
    client = web(cell, ws.owner)
    blocks = [{"type": "section", "text": {"type": "plain_text", "text": "x"}}]
    posted = client.chat_postMessage(channel=ws.general, text="t", blocks=blocks)
    kept = client.chat_update(channel=ws.general, ts=posted["ts"], text="t2")["message"]
    removed = client.chat_update(channel=ws.general, ts=posted["ts"], text="t3", blocks=[])["message"]
    assert (kept["blocks"], "blocks" in removed) == (blocks, False)


def test_bot_updates_and_deletes_its_own_message(cell: RunningCell) -> None:
    """A bot may edit and delete what it posted."""
    ws = cell.workspace()
    bot, bot_id = cell.bot(ws, "robo")
    client = web(cell, bot)
    client.conversations_join(channel=ws.general)
    posted = client.chat_postMessage(channel=ws.general, text="beep")
    assert posted["message"]["bot_id"] == bot_id
    assert client.chat_update(channel=ws.general, ts=posted["ts"], text="boop")["message"]["text"] == "boop"
    client.chat_delete(channel=ws.general, ts=posted["ts"])
    assert top_level(client, ws.general) == []


# --- chat.delete ------------------------------------------------------------------------


def test_delete_removes_the_message_and_emits_message_deleted(cell: RunningCell) -> None:
    """The author's delete takes the message out of history and writes `message_deleted`."""
    ws = cell.workspace()
    client = web(cell, ws.owner)
    keep = client.chat_postMessage(channel=ws.general, text="keep")
    gone = client.chat_postMessage(channel=ws.general, text="gone")
    mark = last_outbox_id(cell)
    answer = client.chat_delete(channel=ws.general, ts=gone["ts"])
    assert (answer["channel"], answer["ts"]) == (ws.general, gone["ts"])
    assert [m["ts"] for m in top_level(client, ws.general)] == [keep["ts"]]
    [event] = outbox(cell, after=mark)
    payload = event["payload"]
    assert (payload["type"], payload["subtype"], payload["channel"], payload["deleted_ts"]) == (
        "message", "message_deleted", ws.general, gone["ts"])
    assert payload["previous_message"]["text"] == "gone"


def test_workspace_admin_deletes_someone_elses_message(cell: RunningCell) -> None:
    """A workspace admin (here the owner) may delete another member's message."""
    ws = cell.workspace()
    ann = cell.user(ws, "ann")
    posted = web(cell, ann).chat_postMessage(channel=ws.general, text="oops")
    web(cell, ws.owner).chat_delete(channel=ws.general, ts=posted["ts"])
    assert top_level(web(cell, ann), ws.general) == []


def test_delete_takes_reactions_pins_and_mentions_with_it(cell: RunningCell) -> None:
    """Deleting a message deletes its reactions, pins and mentions rows (FK cascade)."""
    ws = cell.workspace()
    client = web(cell, ws.owner)
    posted = client.chat_postMessage(channel=ws.general, text="<!here> look")
    client.reactions_add(channel=ws.general, timestamp=posted["ts"], name="eyes")
    client.pins_add(channel=ws.general, timestamp=posted["ts"])
    client.chat_delete(channel=ws.general, ts=posted["ts"])
    after = snapshot(cell)
    assert (after["messages"], after["reactions"], after["pins"], after["mentions"]) == ([], [], [], [])
    assert client.pins_list(channel=ws.general)["items"] == []


# --- every error code, over real HTTP, writing nothing ---------------------------------

Case = tuple[str, str, Callable[[Scene], dict[str, Any]], str]

_LONG = "x" * 40_001

ERRORS: list[Case] = [
    # chat.postMessage
    ("alice", "chat.postMessage", lambda s: {"text": "no channel"}, "invalid_arguments"),
    ("alice", "chat.postMessage", lambda s: {"channel": s.channels["general"]}, "no_text"),
    ("alice", "chat.postMessage", lambda s: {"channel": s.channels["general"], "text": _LONG}, "msg_too_long"),
    ("alice", "chat.postMessage", lambda s: {"channel": s.channels["general"], "text": "t", "thread_ts": "yesterday"},
     "invalid_arguments"),
    ("alice", "chat.postMessage", lambda s: {"channel": s.channels["general"], "text": "t", "thread_ts": "1.000001"},
     "thread_not_found"),
    ("alice", "chat.postMessage", lambda s: {"channel": s.channels["general"], "text": "t",
                                             "thread_ts": s.ts["secret_msg"]}, "thread_not_found"),
    ("alice", "chat.postMessage", lambda s: {"channel": s.channels["general"], "text": "t", "blocks": "[not json"},
     "invalid_arguments"),
    ("bob", "chat.postMessage", lambda s: {"channel": s.channels["general"], "text": "hello",
                                           "client_msg_id": SCENE_CLIENT_MSG_ID}, "invalid_arguments"),
    ("alice", "chat.postMessage", lambda s: {"channel": s.channels["attic"], "text": "t"}, "is_archived"),
    ("bob", "chat.postMessage", lambda s: {"channel": s.channels["club"], "text": "t"}, "not_in_channel"),
    ("bob", "chat.postMessage", lambda s: {"channel": s.channels["secret"], "text": "t"}, "channel_not_found"),
    ("alice", "chat.postMessage", lambda s: {"channel": "CNOSUCHCHAN", "text": "t"}, "channel_not_found"),
    # chat.update
    ("alice", "chat.update", lambda s: {"channel": s.channels["general"], "text": "t"}, "invalid_arguments"),
    ("alice", "chat.update", lambda s: {"channel": s.channels["general"], "ts": "1.000001", "text": "t"},
     "message_not_found"),
    ("alice", "chat.update", lambda s: {"channel": s.channels["general"], "ts": "not-a-ts", "text": "t"},
     "message_not_found"),
    ("owner", "chat.update", lambda s: {"channel": s.channels["general"], "ts": s.ts["secret_msg"], "text": "t"},
     "message_not_found"),
    ("bob", "chat.update", lambda s: {"channel": s.channels["general"], "ts": s.ts["msg"], "text": "t"},
     "cant_update_message"),
    ("owner", "chat.update", lambda s: {"channel": s.channels["general"], "ts": s.ts["msg"], "text": "t"},
     "cant_update_message"),
    ("bot", "chat.update", lambda s: {"channel": s.channels["general"], "ts": s.ts["msg"], "text": "t"},
     "cant_update_message"),
    ("alice", "chat.update", lambda s: {"channel": s.channels["general"], "ts": s.ts["bot_msg"], "text": "t"},
     "cant_update_message"),
    ("alice", "chat.update", lambda s: {"channel": s.channels["general"], "ts": s.ts["msg"], "text": _LONG},
     "msg_too_long"),
    ("alice", "chat.update", lambda s: {"channel": s.channels["general"], "ts": s.ts["msg"]}, "no_text"),
    ("alice", "chat.update", lambda s: {"channel": s.channels["general"], "ts": s.ts["msg"], "text": ""}, "no_text"),
    ("alice", "chat.update", lambda s: {"channel": s.channels["attic"], "ts": s.ts["attic_msg"], "text": "t"},
     "is_archived"),
    ("bob", "chat.update", lambda s: {"channel": s.channels["club"], "ts": s.ts["club_msg"], "text": "t"},
     "not_in_channel"),
    ("bob", "chat.update", lambda s: {"channel": s.channels["secret"], "ts": s.ts["secret_msg"], "text": "t"},
     "channel_not_found"),
    # chat.delete
    ("alice", "chat.delete", lambda s: {"channel": s.channels["general"]}, "invalid_arguments"),
    ("alice", "chat.delete", lambda s: {"channel": s.channels["general"], "ts": "1.000001"}, "message_not_found"),
    ("alice", "chat.delete", lambda s: {"channel": s.channels["general"], "ts": "12:30"}, "message_not_found"),
    ("bob", "chat.delete", lambda s: {"channel": s.channels["general"], "ts": s.ts["msg"]}, "cant_delete_message"),
    ("bot", "chat.delete", lambda s: {"channel": s.channels["general"], "ts": s.ts["msg"]}, "cant_delete_message"),
    ("alice", "chat.delete", lambda s: {"channel": s.channels["attic"], "ts": s.ts["attic_msg"]}, "is_archived"),
    ("bob", "chat.delete", lambda s: {"channel": s.channels["club"], "ts": s.ts["club_msg"]}, "not_in_channel"),
    ("bob", "chat.delete", lambda s: {"channel": s.channels["secret"], "ts": s.ts["secret_msg"]},
     "channel_not_found"),
]


def _person(scene: Scene, who: str) -> Any:
    return {"alice": scene.alice, "bob": scene.bob, "bot": scene.bot, "owner": scene.owner}[who]


@pytest.mark.parametrize(("who", "method", "args", "expected"), ERRORS,
                         ids=[f"{c[1]}-{c[3]}-{i}" for i, c in enumerate(ERRORS)])
def test_error_codes_write_nothing(
    scene: Scene, who: str, method: str, args: Callable[[Scene], dict[str, Any]], expected: str
) -> None:
    """Each bad call answers its precise Slack error over HTTP and leaves every table as it was."""
    before = snapshot(scene.cell)
    client = scene.client(_person(scene, who))
    assert error_of(lambda: client.api_call(method, data=args(scene))) == expected
    assert snapshot(scene.cell) == before


# --- isolation: another workspace's ids, a private channel's non-member -------------------

EVERY_METHOD: list[tuple[str, Callable[[str, str], dict[str, Any]]]] = [
    ("chat.postMessage", lambda c, ts: {"channel": c, "text": "t"}),
    ("chat.postMessage", lambda c, ts: {"channel": c, "text": "t", "thread_ts": ts}),
    ("chat.update", lambda c, ts: {"channel": c, "ts": ts, "text": "t"}),
    ("chat.delete", lambda c, ts: {"channel": c, "ts": ts}),
    ("conversations.replies", lambda c, ts: {"channel": c, "ts": ts}),
    ("reactions.add", lambda c, ts: {"channel": c, "timestamp": ts, "name": "wave"}),
    ("reactions.remove", lambda c, ts: {"channel": c, "timestamp": ts, "name": "wave"}),
    ("reactions.get", lambda c, ts: {"channel": c, "timestamp": ts, "full": True}),
    ("pins.add", lambda c, ts: {"channel": c, "timestamp": ts}),
    ("pins.remove", lambda c, ts: {"channel": c, "timestamp": ts}),
    ("pins.list", lambda c, ts: {"channel": c}),
]


@pytest.mark.parametrize(("method", "args"), EVERY_METHOD, ids=[f"{m}-{i}" for i, (m, _) in enumerate(EVERY_METHOD)])
def test_another_workspaces_ids_are_channel_not_found(
    scene: Scene, method: str, args: Callable[[str, str], dict[str, Any]]
) -> None:
    """A member of workspace A naming workspace B's channel and message gets channel_not_found;
    B is unchanged."""
    before = snapshot(scene.cell)
    params = args(scene.channels["other"], scene.ts["other_msg"])
    assert error_of(lambda: scene.client(scene.ws.owner).api_call(method, data=params)) == "channel_not_found"
    assert snapshot(scene.cell) == before


@pytest.mark.parametrize(("method", "args"), EVERY_METHOD, ids=[f"{m}-{i}" for i, (m, _) in enumerate(EVERY_METHOD)])
def test_private_channel_does_not_exist_for_non_members(
    scene: Scene, method: str, args: Callable[[str, str], dict[str, Any]]
) -> None:
    """Someone outside a private channel gets channel_not_found from every method, and nothing changes."""
    before = snapshot(scene.cell)
    params = args(scene.channels["secret"], scene.ts["secret_msg"])
    assert error_of(lambda: scene.client(scene.bob).api_call(method, data=params)) == "channel_not_found"
    assert snapshot(scene.cell) == before


def test_the_other_workspace_still_reads_its_own_message(scene: Scene) -> None:
    """After all the cross-workspace attempts, workspace B's message is intact for B."""
    history = scene.client(scene.other.owner).conversations_history(channel=scene.channels["other"])
    mine = [m for m in history["messages"] if m["ts"] == scene.ts["other_msg"]]
    assert [(m["text"], m.get("reactions"), m.get("edited")) for m in mine] == [("theirs", None, None)]
