"""Scopes enforced per method as Slack does, for bot and user tokens alike (docs/integrations.md).

``NEEDED`` is written from Slack's method reference ("Required scopes"), independently of the
cell's table (``cell.domain.scopes.METHOD_SCOPES``): for each scope-gated method, what a bot
token and a user token lacking every scope must be told it needs (``None``: that token type may
not call the method at all). Every call goes through the official ``slack_sdk``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from cell.api import methods
from cell.api.registry import METHODS
from cell.domain import scopes
from tests.support.apps import MadeApp, make_app
from tests.support.cells import RunningCell, Workspace, running_cell
from tests.support.infra import Infra

READ = "channels:read,groups:read,im:read,mpim:read"
HISTORY = "channels:history,groups:history,im:history,mpim:history"
BOT_MANAGE = "channels:manage,groups:write,im:write,mpim:write"
USER_WRITE = "channels:write,groups:write,im:write,mpim:write"

# method -> (bot token's needed, user token's needed), and the arguments the call is made with
NEEDED: dict[str, tuple[str | None, str | None, dict[str, Any]]] = {
    "bots.info": ("users:read", "users:read", {}),
    "team.info": ("team:read", "team:read", {}),
    "chat.postMessage": ("chat:write", "chat:write", {}),
    "chat.postEphemeral": ("chat:write", "chat:write", {}),
    "chat.meMessage": ("chat:write", "chat:write", {}),
    "chat.update": ("chat:write", "chat:write", {}),
    "chat.delete": ("chat:write", "chat:write", {}),
    "conversations.history": (HISTORY, HISTORY, {}),
    "conversations.replies": (HISTORY, HISTORY, {}),
    "conversations.info": (READ, READ, {}),
    "conversations.members": (READ, READ, {}),
    "conversations.list": ("channels:read", "channels:read", {}),
    "users.conversations": ("channels:read", "channels:read", {}),
    "conversations.join": ("channels:join", "channels:write", {}),
    "conversations.create": ("channels:manage", "channels:write", {"name": "nope"}),
    "conversations.open": ("im:write", "im:write", {"users": "U0000000000"}),
    "conversations.archive": (BOT_MANAGE, USER_WRITE, {}),
    "conversations.unarchive": (BOT_MANAGE, USER_WRITE, {}),
    "conversations.close": (BOT_MANAGE, USER_WRITE, {}),
    "conversations.invite": (BOT_MANAGE, USER_WRITE, {}),
    "conversations.kick": (BOT_MANAGE, USER_WRITE, {}),
    "conversations.leave": (BOT_MANAGE, USER_WRITE, {}),
    "conversations.mark": (BOT_MANAGE, USER_WRITE, {}),
    "conversations.rename": (BOT_MANAGE, USER_WRITE, {}),
    "conversations.setPurpose": (BOT_MANAGE, USER_WRITE, {}),
    "conversations.setTopic": (BOT_MANAGE, USER_WRITE, {}),
    "reactions.add": ("reactions:write", "reactions:write", {}),
    "reactions.remove": ("reactions:write", "reactions:write", {}),
    "reactions.get": ("reactions:read", "reactions:read", {}),
    "pins.add": ("pins:write", "pins:write", {}),
    "pins.remove": ("pins:write", "pins:write", {}),
    "pins.list": ("pins:read", "pins:read", {}),
    "files.upload": ("files:write", "files:write", {}),
    "files.getUploadURLExternal": ("files:write", "files:write", {}),
    "files.completeUploadExternal": ("files:write", "files:write", {}),
    "files.delete": ("files:write", "files:write", {}),
    "files.info": ("files:read", "files:read", {}),
    "files.list": ("files:read", "files:read", {}),
    "search.all": (None, "search:read", {}),
    "search.messages": (None, "search:read", {}),
    "search.files": (None, "search:read", {}),
    "users.list": ("users:read", "users:read", {}),
    "users.info": ("users:read", "users:read", {}),
    "users.lookupByEmail": ("users:read.email", "users:read.email", {}),
    "users.getPresence": ("users:read", "users:read", {}),
    "users.setPresence": ("users:write", "users:write", {}),
    "rtm.connect": ("rtm:stream", "rtm:stream", {}),
}
HELD = "emoji:read"  # a scope no method here needs: what the tokens under test hold


@pytest.fixture(scope="module")
def cell(infra: Infra) -> Iterator[RunningCell]:
    with running_cell(infra, rate_limits={"enabled": False}) as running:
        yield running


@pytest.fixture(scope="module")
def ws(cell: RunningCell) -> Workspace:
    return cell.workspace("scopes")


@pytest.fixture(scope="module")
def bare(cell: RunningCell, ws: Workspace) -> MadeApp:
    """An app whose bot and user tokens hold only a scope no method here needs."""
    return make_app(cell, ws, "Bare", [HELD], [HELD])


def answer(token: str, cell: RunningCell, method: str, params: dict[str, Any]) -> SlackResponse:
    try:
        return WebClient(token=token, base_url=cell.api).api_call(method, data=params)
    except SlackApiError as exc:
        return exc.response


def refusal(response: SlackResponse) -> tuple[object, ...]:
    return (response.get("error"), response.get("needed"), response.get("provided"))


@pytest.mark.parametrize("method", sorted(NEEDED))
def test_a_bot_token_without_the_scope_is_refused(cell: RunningCell, bare: MadeApp, method: str) -> None:
    """Each scope-gated method refuses a bot token lacking its scope: missing_scope, needed, provided
    (or not_allowed_token_type where bots may not call it)."""
    needed, _, params = NEEDED[method]
    expected = ("not_allowed_token_type", None, None) if needed is None else ("missing_scope", needed, HELD)
    assert refusal(answer(bare.bot_token, cell, method, params)) == expected


@pytest.mark.parametrize("method", sorted(NEEDED))
def test_a_user_token_without_the_scope_is_refused(cell: RunningCell, bare: MadeApp, method: str) -> None:
    """Each scope-gated method refuses an app's user token lacking its scope the same way."""
    _, needed, params = NEEDED[method]
    assert bare.user_token is not None
    expected = ("not_allowed_token_type", None, None) if needed is None else ("missing_scope", needed, HELD)
    assert refusal(answer(bare.user_token, cell, method, params)) == expected


def test_holding_the_scope_passes_the_check(cell: RunningCell, ws: Workspace) -> None:
    """With one of the scopes Slack names, no method answers missing_scope (whatever else it says)."""
    granted: dict[str, MadeApp] = {}
    refused = []
    for method, (bot_needed, user_needed, params) in sorted(NEEDED.items()):
        for needed, kind in ((bot_needed, "bot"), (user_needed, "user")):
            if needed is None:
                continue
            scope = needed.split(",")[0]
            if scope not in granted:
                granted[scope] = make_app(cell, ws, f"Holds {scope}"[:80], [scope], [scope])
            app = granted[scope]
            token = app.bot_token if kind == "bot" else app.user_token
            assert token is not None
            got = answer(token, cell, method, params)
            if got.get("error") in ("missing_scope", "not_allowed_token_type"):
                refused.append((method, kind, got.get("error"), got.get("needed")))
    assert refused == []


def test_a_family_scope_is_checked_for_the_conversation_named(cell: RunningCell, ws: Workspace) -> None:
    """A token holding channels:history reads a public channel's history, and is told it needs
    groups:history for a private one."""
    app = make_app(cell, ws, "Public reader", ["channels:history"])
    owner = WebClient(token=ws.owner.token, base_url=cell.api)
    private = owner.conversations_create(name="private-plans", is_private=True)["channel"]["id"]
    owner.conversations_invite(channel=ws.general, users=app.bot_user_id)
    owner.conversations_invite(channel=private, users=app.bot_user_id)
    public_history = answer(app.bot_token, cell, "conversations.history", {"channel": ws.general})
    private_history = answer(app.bot_token, cell, "conversations.history", {"channel": private})
    assert (public_history["ok"], refusal(private_history)) == (
        True, ("missing_scope", "groups:history", "channels:history"))


def test_listing_private_channels_needs_groups_read(cell: RunningCell, ws: Workspace) -> None:
    """conversations.list with types=private_channel needs groups:read even with channels:read."""
    app = make_app(cell, ws, "Lister", ["channels:read"])
    assert (answer(app.bot_token, cell, "conversations.list", {})["ok"],
            refusal(answer(app.bot_token, cell, "conversations.list", {"types": "public_channel,private_channel"}))) == (
        True, ("missing_scope", "groups:read", "channels:read"))


def test_answers_carry_slacks_scope_headers(cell: RunningCell, ws: Workspace) -> None:
    """X-OAuth-Scopes names what the token holds, X-Accepted-OAuth-Scopes what the method accepts,
    on answers and refusals alike."""
    app = make_app(cell, ws, "Headers", ["users:read", "chat:write"])
    allowed = answer(app.bot_token, cell, "users.list", {})
    refused = answer(app.bot_token, cell, "team.info", {})
    assert [(r.headers["x-oauth-scopes"], r.headers["x-accepted-oauth-scopes"]) for r in (allowed, refused)] == [
        ("chat:write,users:read", "users:read"), ("chat:write,users:read", "team:read")]


def test_a_session_token_holds_client_and_is_never_refused_for_a_scope(cell: RunningCell, ws: Workspace) -> None:
    """A person's session token (signing in, the web client) holds 'client': no method refuses it for a scope."""
    refused = []
    for method, (_, _, params) in sorted(NEEDED.items()):
        got = answer(ws.owner.token, cell, method, params)
        if got.get("error") in ("missing_scope", "not_allowed_token_type"):
            refused.append(method)
    scope_header = answer(ws.owner.token, cell, "auth.test", {}).headers["x-oauth-scopes"]
    assert (refused, scope_header) == ([], "client")


def test_an_apps_token_is_refused_by_first_party_methods(cell: RunningCell, bare: MadeApp) -> None:
    """Cellchat's own methods for its first-party clients (push.*) refuse an app's tokens."""
    assert [answer(bare.bot_token, cell, m, {}).get("error") for m in sorted(scopes.FIRST_PARTY)] == [
        "not_allowed_token_type"] * len(scopes.FIRST_PARTY)


def test_every_method_has_its_scopes() -> None:
    """Every registered Slack method has a row in cell.domain.scopes.METHOD_SCOPES (or is one of
    Cellchat's first-party methods): a new method must say which scopes it needs."""
    methods.load()
    assert sorted(set(METHODS) - set(scopes.METHOD_SCOPES) - scopes.FIRST_PARTY) == []
