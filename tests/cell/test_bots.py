"""What an app's bot sees and posts, as in Slack: bot messages' shape, bots.info, team.info,
users.conversations, chat.postEphemeral, chat.getPermalink, chat.meMessage, history for bots."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import psycopg
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from websockets.exceptions import ConnectionClosed

from tests.support import realtime
from tests.support.apps import MadeApp, admin_call, make_app
from tests.support.cells import RunningCell, Workspace, running_cell
from tests.support.infra import Infra

# Slack's own bot message (chat.postMessage's ``message``, conversations.history, events): its keys,
# and its bot_profile's, as Slack's method reference and Bolt's test payloads show them.
SLACK_BOT_MESSAGE = {"type", "text", "user", "ts", "team", "bot_id", "app_id", "bot_profile"}
SLACK_BOT_PROFILE = {"id", "deleted", "name", "updated", "app_id", "icons", "team_id"}
SLACK_ICONS = {"image_36", "image_48", "image_72"}


@pytest.fixture(scope="module")
def cell(infra: Infra) -> Iterator[RunningCell]:
    with running_cell(infra, role="all", rate_limits={"enabled": False}) as running:
        yield running


@pytest.fixture(scope="module")
def ws(cell: RunningCell) -> Workspace:
    return cell.workspace("bots")


@pytest.fixture(scope="module")
def app(cell: RunningCell, ws: Workspace) -> MadeApp:
    made = make_app(cell, ws, "Herald", ["chat:write", "channels:history", "channels:read", "groups:read",
                                         "users:read", "team:read", "channels:join"])
    WebClient(token=made.bot_token, base_url=cell.api).conversations_join(channel=ws.general)
    return made


def web(token: str, cell: RunningCell) -> WebClient:
    return WebClient(token=token, base_url=cell.api)


def error_of(call: Any) -> str:
    with pytest.raises(SlackApiError) as raised:
        call()
    return str(raised.value.response["error"])


def test_a_bot_message_has_slacks_shape(cell: RunningCell, ws: Workspace, app: MadeApp) -> None:
    """A message an app's bot posts carries exactly Slack's keys - user, bot_id, app_id, bot_profile -
    in the post's answer, in history and in the real-time event, with the app's values."""
    posted = web(app.bot_token, cell).chat_postMessage(channel=ws.general, text="release 1.2 is out")
    history = web(ws.owner.token, cell).conversations_history(channel=ws.general, limit=1)["messages"][0]
    with psycopg.connect(cell.dsn) as conn:
        found = conn.execute("SELECT payload FROM outbox WHERE workspace_id = %s AND event_type = 'message'"
                             " ORDER BY id DESC LIMIT 1", (ws.id,)).fetchone()
    assert found is not None
    event = found[0]
    for message in (posted["message"], history):
        profile = message["bot_profile"]
        assert (set(message), set(profile), set(profile["icons"])) == (SLACK_BOT_MESSAGE, SLACK_BOT_PROFILE,
                                                                       SLACK_ICONS)
        assert (message["user"], message["bot_id"], message["app_id"], profile["id"], profile["app_id"],
                profile["name"], profile["team_id"], profile["deleted"]) == (
            app.bot_user_id, app.bot_id, app.id, app.bot_id, app.id, "Herald", ws.id, False)
    assert (event["bot_profile"], event["app_id"]) == (posted["message"]["bot_profile"], app.id)


def test_bots_info_of_an_app_and_of_a_plain_bot(cell: RunningCell, ws: Workspace, app: MadeApp) -> None:
    """bots.info answers the app's bot (with app_id and user_id) and a plain bot (without app_id)."""
    plain, plain_bot_id = cell.bot(ws, "legacy")
    client = web(app.bot_token, cell)
    mine, legacy = client.bots_info(bot=app.bot_id)["bot"], client.bots_info(bot=plain_bot_id)["bot"]
    assert ((mine["id"], mine["app_id"], mine["user_id"], mine["name"], mine["deleted"]),
            (legacy["id"], "app_id" in legacy, legacy["user_id"])) == (
        (app.bot_id, app.id, app.bot_user_id, "Herald", False), (plain_bot_id, False, plain.id))


def test_bots_info_of_another_workspaces_bot_is_bot_not_found(cell: RunningCell, app: MadeApp) -> None:
    """A bot of another workspace does not exist for this one."""
    other = cell.workspace("elsewhere")
    theirs = make_app(cell, other, "Theirs", [])
    assert error_of(lambda: web(app.bot_token, cell).bots_info(bot=theirs.bot_id)) == "bot_not_found"


def test_team_info(cell: RunningCell, ws: Workspace, app: MadeApp) -> None:
    """team.info answers the caller's workspace; another workspace's id is team_not_found."""
    other = cell.workspace("far")
    client = web(app.bot_token, cell)
    team = client.team_info()["team"]
    assert ((team["id"], team["name"]), error_of(lambda: client.team_info(team=other.id))) == (
        (ws.id, "bots"), "team_not_found")


def test_users_conversations_lists_the_bots_own_conversations(cell: RunningCell, ws: Workspace, app: MadeApp) -> None:
    """users.conversations lists the conversations the bot is in - not the others, not private ones it is not in."""
    owner = web(ws.owner.token, cell)
    joined = owner.conversations_create(name="bots-in")["channel"]["id"]
    owner.conversations_create(name="bots-out")
    secret = owner.conversations_create(name="bots-secret", is_private=True)["channel"]["id"]
    owner.conversations_invite(channel=joined, users=app.bot_user_id)
    listed = web(app.bot_token, cell).users_conversations(types="public_channel,private_channel")["channels"]
    assert (sorted(c["id"] for c in listed), secret in [c["id"] for c in listed]) == (
        sorted([ws.general, joined]), False)


def test_users_conversations_of_another_person_shows_only_what_the_caller_may_see(
        cell: RunningCell, ws: Workspace, app: MadeApp) -> None:
    """Asked about a person, a bot sees their public channels, not their private ones it is not in."""
    owner = web(ws.owner.token, cell)
    hidden = owner.conversations_create(name="owner-only", is_private=True)["channel"]["id"]
    listed = [c["id"] for c in web(app.bot_token, cell).users_conversations(
        user=ws.owner.id, types="public_channel,private_channel")["channels"]]
    assert (ws.general in listed, hidden in listed) == (True, False)


def test_history_for_a_bot_is_of_its_own_channels(cell: RunningCell, ws: Workspace, app: MadeApp) -> None:
    """A bot reads the history of a channel it is in, and is told not_in_channel for a public one it is not in."""
    outside = web(ws.owner.token, cell).conversations_create(name="bots-elsewhere")["channel"]["id"]
    client = web(app.bot_token, cell)
    assert (client.conversations_history(channel=ws.general, limit=1)["ok"],
            error_of(lambda: client.conversations_history(channel=outside))) == (True, "not_in_channel")


def test_get_permalink(cell: RunningCell, ws: Workspace, app: MadeApp) -> None:
    """chat.getPermalink answers Slack's /archives/<C>/p<ts> link; a reply's names its thread."""
    client = web(app.bot_token, cell)
    root = client.chat_postMessage(channel=ws.general, text="root")["ts"]
    reply = client.chat_postMessage(channel=ws.general, text="reply", thread_ts=root)["ts"]
    link = client.chat_getPermalink(channel=ws.general, message_ts=root)["permalink"]
    reply_link = client.chat_getPermalink(channel=ws.general, message_ts=reply)["permalink"]
    assert (link.endswith(f"/archives/{ws.general}/p{root.replace('.', '')}"),
            reply_link.endswith(f"/p{reply.replace('.', '')}?thread_ts={root}&cid={ws.general}"),
            error_of(lambda: client.chat_getPermalink(channel=ws.general, message_ts="1.000001"))) == (
        True, True, "message_not_found")


def test_me_message(cell: RunningCell, ws: Workspace, app: MadeApp) -> None:
    """chat.meMessage posts a me_message."""
    ts = web(app.bot_token, cell).chat_meMessage(channel=ws.general, text="waves")["ts"]
    latest = web(ws.owner.token, cell).conversations_history(channel=ws.general, limit=1)["messages"][0]
    assert (latest["ts"], latest["subtype"], latest["text"], latest["bot_id"]) == (ts, "me_message", "waves",
                                                                                     app.bot_id)


def test_an_ephemeral_message_reaches_only_its_person_and_is_never_in_history(
        cell: RunningCell, ws: Workspace, app: MadeApp) -> None:
    """chat.postEphemeral reaches the one person over RTM (is_ephemeral, with the bot's fields); another
    member of the channel does not get it; history does not have it."""
    other = cell.user(ws, "onlooker")

    async def run() -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
        async with realtime.socket(cell, ws.owner.token) as mine, realtime.socket(cell, other.token) as theirs:
            await realtime.frame(mine, lambda f: f.get("type") == "hello")
            await realtime.frame(theirs, lambda f: f.get("type") == "hello")
            ts = str((await realtime.api(cell.api, app.bot_token, "chat.postEphemeral", channel=ws.general,
                                         user=ws.owner.id, text="psst"))["message_ts"])
            await realtime.api(cell.api, app.bot_token, "chat.postMessage", channel=ws.general, text="after")
            got = await realtime.frames_until(mine, realtime.is_message("after"))
            seen = await realtime.frames_until(theirs, realtime.is_message("after"))
            return got, seen, ts
    got, seen, ts = anyio.run(run)
    ephemeral = [f for f in got if f.get("is_ephemeral")]
    history = web(ws.owner.token, cell).conversations_history(channel=ws.general, limit=20)["messages"]
    assert ([(f["text"], f["ts"], f["channel"], f["bot_id"], f["app_id"]) for f in ephemeral],
            [f for f in seen if f.get("text") == "psst"], [m for m in history if m["text"] == "psst"]) == (
        [("psst", ts, ws.general, app.bot_id, app.id)], [], [])


def test_an_ephemeral_message_to_someone_outside_the_channel_is_refused(
        cell: RunningCell, ws: Workspace, app: MadeApp) -> None:
    """The person must be in the channel: user_not_in_channel, and nothing is written."""
    outsider = cell.user(ws, "outsider")
    owner = web(ws.owner.token, cell)
    room = owner.conversations_create(name="bots-room")["channel"]["id"]
    owner.conversations_invite(channel=room, users=app.bot_user_id)
    with psycopg.connect(cell.dsn) as conn:
        before = conn.execute("SELECT count(*) FROM outbox WHERE workspace_id = %s", (ws.id,)).fetchone()
        error = error_of(lambda: web(app.bot_token, cell).chat_postEphemeral(channel=room, user=outsider.id,
                                                                                text="hi"))
        after = conn.execute("SELECT count(*) FROM outbox WHERE workspace_id = %s", (ws.id,)).fetchone()
    assert (error, after) == ("user_not_in_channel", before)


def test_uninstall_ends_the_bots_open_socket(cell: RunningCell, ws: Workspace) -> None:
    """An app's bot connected over RTM gets tokens_revoked and its socket closes (4004) when the app is uninstalled."""
    made = make_app(cell, ws, "Listener", ["rtm:stream"])

    async def run() -> tuple[str, int | None]:
        async with realtime.socket(cell, made.bot_token) as sock:
            await realtime.frame(sock, lambda f: f.get("type") == "hello")
            await anyio.to_thread.run_sync(admin_call, cell, f"/v1/workspaces/{ws.id}/apps/{made.id}/uninstall")
            revoked = await realtime.frame(sock, lambda f: f.get("type") == "tokens_revoked")
            try:
                await realtime.frame(sock, lambda f: False)
            except ConnectionClosed as closed:
                return str(revoked["tokens"]["bot"]), closed.rcvd.code if closed.rcvd else None
            return str(revoked["tokens"]["bot"]), None
    assert anyio.run(run) == (str([made.bot_user_id]), 4004)


def test_chat_write_public_posts_in_a_public_channel_without_joining(cell: RunningCell, ws: Workspace) -> None:
    """With chat:write.public a bot posts in a public channel it is not in (and stays out of it);
    without it, not_in_channel; a private channel it is not in stays channel_not_found."""
    owner = web(ws.owner.token, cell)
    public = owner.conversations_create(name="public-news")["channel"]["id"]
    private = owner.conversations_create(name="private-news", is_private=True)["channel"]["id"]
    broad = make_app(cell, ws, "Broadcaster", ["chat:write", "chat:write.public"])
    narrow = make_app(cell, ws, "Narrow", ["chat:write"])
    posted = web(broad.bot_token, cell).chat_postMessage(channel=public, text="news")["ok"]
    members = owner.conversations_members(channel=public)["members"]
    assert (posted, broad.bot_user_id in members,
            error_of(lambda: web(narrow.bot_token, cell).chat_postMessage(channel=public, text="x")),
            error_of(lambda: web(broad.bot_token, cell).chat_postMessage(channel=private, text="x"))) == (
        True, False, "not_in_channel", "channel_not_found")


def test_chat_write_customize_sets_username_and_icon(cell: RunningCell, ws: Workspace) -> None:
    """With chat:write.customize a bot's username and icon_emoji show on its message; without, they are ignored."""
    custom = make_app(cell, ws, "Custom", ["chat:write", "chat:write.customize", "channels:join"])
    plain = make_app(cell, ws, "Plain", ["chat:write", "channels:join"])
    shown = []
    for made in (custom, plain):
        client = web(made.bot_token, cell)
        client.conversations_join(channel=ws.general)
        message = client.chat_postMessage(channel=ws.general, text="hi", username="Deployer",
                                          icon_emoji=":rocket:")["message"]
        shown.append((message.get("username"), message.get("icons")))
    assert shown == [("Deployer", {"emoji": ":rocket:"}), (None, None)]
