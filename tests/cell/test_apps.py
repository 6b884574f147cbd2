"""Apps: install, tokens, uninstall, rotation, and who may manage them (docs/integrations.md)."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import psycopg
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from cell import apps
from cell.store.db import Database
from tests.support.apps import admin_call, make_app
from tests.support.cells import RunningCell, Workspace, running_cell
from tests.support.infra import Infra


@pytest.fixture(scope="module")
def cell(infra: Infra) -> Iterator[RunningCell]:
    with running_cell(infra) as running:
        yield running


@pytest.fixture
def ws(cell: RunningCell) -> Workspace:
    return cell.workspace("apps")


def error_of(call: object) -> str:
    with pytest.raises(SlackApiError) as raised:
        call()  # type: ignore[operator]
    return str(raised.value.response["error"])


def lookup(cell: RunningCell, fn: str, *args: str) -> apps.App | None:
    async def run() -> apps.App | None:
        db = Database(cell.dsn, min_size=1, max_size=1)
        await db.open()
        try:
            found: apps.App | None = await getattr(apps, fn)(db, *args)
            return found
        finally:
            await db.close()
    return anyio.run(run)


def test_auth_test_of_a_bot_token_names_its_bot_and_app(cell: RunningCell, ws: Workspace) -> None:
    """auth.test with an app's bot token answers the bot user, bot_id, app_id, is_enterprise_install false."""
    app = make_app(cell, ws, "Deploy Bot", ["chat:write"])
    answer = WebClient(token=app.bot_token, base_url=cell.api).auth_test()
    assert (answer["user_id"], answer["bot_id"], answer["app_id"], answer["team_id"],
            answer["is_enterprise_install"]) == (app.bot_user_id, app.bot_id, app.id, ws.id, False)


def test_an_app_has_all_its_parts(cell: RunningCell, ws: Workspace) -> None:
    """A new app has an A id, a U bot user with a B bot_id, xoxb/xapp tokens, a signing secret and its scopes."""
    app = make_app(cell, ws, "Parts", ["chat:write", "channels:read"], ["search:read"])
    shown = app.answer["app"]
    assert (app.id[0], app.bot_user_id[0], app.bot_id[0], app.bot_token[:5], app.app_token[:5],
            (app.user_token or "")[:5], len(app.signing_secret), shown["bot_scopes"], shown["user_scopes"]) == (
        "A", "U", "B", "xoxb-", "xapp-", "xoxp-", 32, ["chat:write", "channels:read"], ["search:read"])


def test_lookups_find_the_app(cell: RunningCell, ws: Workspace) -> None:
    """app_by_id, app_by_app_token, app_by_bot_user and apps_in_workspace find the same app."""
    app = make_app(cell, ws, "Lookups", ["chat:write"])
    found = [lookup(cell, "app_by_id", ws.id, app.id), lookup(cell, "app_by_app_token", app.app_token),
             lookup(cell, "app_by_bot_user", ws.id, app.bot_user_id)]
    listed = anyio.run(_listed, cell.dsn, ws.id)
    assert [f.app_id if f else None for f in found] + [listed] == [app.id, app.id, app.id, [app.id]]


async def _listed(dsn: str, workspace_id: str) -> list[str]:
    db = Database(dsn, min_size=1, max_size=1)
    await db.open()
    try:
        return [a.app_id for a in await apps.apps_in_workspace(db, workspace_id)]
    finally:
        await db.close()


def test_an_app_level_token_is_refused_by_web_api_methods(cell: RunningCell, ws: Workspace) -> None:
    """The xapp token is for Socket Mode only: auth.test and chat.postMessage answer not_allowed_token_type."""
    app = make_app(cell, ws, "Sockets", ["chat:write"])
    client = WebClient(token=app.app_token, base_url=cell.api)
    assert [error_of(client.auth_test), error_of(lambda: client.chat_postMessage(channel=ws.general, text="x"))] == [
        "not_allowed_token_type", "not_allowed_token_type"]


def test_uninstall_revokes_every_token(cell: RunningCell, ws: Workspace) -> None:
    """Uninstalling revokes the bot, app-level and user tokens; the xapp lookup finds nothing; the bot is deactivated."""
    app = make_app(cell, ws, "Leaving", ["chat:write", "users:read"], ["users:read"])
    answer = admin_call(cell, f"/v1/workspaces/{ws.id}/apps/{app.id}/uninstall")
    bot = WebClient(token=app.bot_token, base_url=cell.api)
    user = WebClient(token=app.user_token, base_url=cell.api)
    owner = WebClient(token=ws.owner.token, base_url=cell.api)
    assert (answer["revoked_tokens"], error_of(bot.auth_test), error_of(user.auth_test),
            lookup(cell, "app_by_app_token", app.app_token),
            owner.users_info(user=app.bot_user_id)["user"]["deleted"]) == (3, "token_revoked", "token_revoked", None, True)


def test_reinstall_after_uninstall_mints_new_tokens(cell: RunningCell, ws: Workspace) -> None:
    """An uninstalled app installed again gets new bot and app-level tokens that work; the old stay revoked."""
    app = make_app(cell, ws, "Again", ["chat:write"])
    admin_call(cell, f"/v1/workspaces/{ws.id}/apps/{app.id}/uninstall")
    again = admin_call(cell, f"/v1/workspaces/{ws.id}/apps/{app.id}/install", {})
    fresh = WebClient(token=again["bot_token"], base_url=cell.api).auth_test()
    assert (fresh["app_id"], again["app"]["installed"], lookup(cell, "app_by_app_token", again["app_token"]) is not None,
            error_of(WebClient(token=app.bot_token, base_url=cell.api).auth_test)) == (
        app.id, True, True, "token_revoked")


def test_reinstall_with_new_scopes_changes_what_the_token_holds(cell: RunningCell, ws: Workspace) -> None:
    """Reinstalling an installed app with other scopes keeps its token; the token holds the new scopes at once."""
    app = make_app(cell, ws, "Growing", ["chat:write"])
    client = WebClient(token=app.bot_token, base_url=cell.api)
    before = error_of(lambda: client.users_list())
    answer = admin_call(cell, f"/v1/workspaces/{ws.id}/apps/{app.id}/install", {"bot_scopes": ["chat:write", "users:read"]})
    after = client.users_list()
    assert (before, after.headers["x-oauth-scopes"], "bot_token" in answer) == (
        "missing_scope", "chat:write,users:read", False)


def test_rotating_the_bot_token_revokes_the_old_one(cell: RunningCell, ws: Workspace) -> None:
    """Rotation answers a new bot token with the same scopes; the old token is revoked at once."""
    app = make_app(cell, ws, "Rotating", ["chat:write", "team:read"])
    answer = admin_call(cell, f"/v1/workspaces/{ws.id}/apps/{app.id}/tokens/rotate", {"token": "bot"})
    new = WebClient(token=answer["token"], base_url=cell.api).auth_test()
    assert (new["bot_id"], new.headers["x-oauth-scopes"],
            error_of(WebClient(token=app.bot_token, base_url=cell.api).auth_test)) == (
        app.bot_id, "chat:write,team:read", "token_revoked")


def test_rotating_the_app_token(cell: RunningCell, ws: Workspace) -> None:
    """A rotated app-level token finds the app; the old one no longer does."""
    app = make_app(cell, ws, "Rotating xapp", ["chat:write"])
    answer = admin_call(cell, f"/v1/workspaces/{ws.id}/apps/{app.id}/tokens/rotate", {"token": "app"})
    assert (lookup(cell, "app_by_app_token", answer["token"]) is not None,
            lookup(cell, "app_by_app_token", app.app_token)) == (True, None)


def test_signing_secret_rotation(cell: RunningCell, ws: Workspace) -> None:
    """A rotated signing secret is what the app's record holds from then on."""
    app = make_app(cell, ws, "Secretive", [])
    answer = admin_call(cell, f"/v1/workspaces/{ws.id}/apps/{app.id}/signing_secret/rotate")
    found = lookup(cell, "app_by_id", ws.id, app.id)
    assert found is not None and (found.signing_secret, answer["signing_secret"] != app.signing_secret) == (
        answer["signing_secret"], True)


def test_unknown_scope_is_refused_and_writes_nothing(cell: RunningCell, ws: Workspace) -> None:
    """An unknown scope answers invalid_scope; no user, app or token is written."""
    def counts() -> tuple[int, ...]:
        with psycopg.connect(cell.dsn) as conn:
            return tuple(conn.execute(f"SELECT count(*) FROM {t} WHERE workspace_id = %s", (ws.id,)).fetchone()[0]
                         for t in ("users", "apps", "tokens"))
    before = counts()
    answer = admin_call(cell, f"/v1/workspaces/{ws.id}/apps", {"name": "Greedy", "bot_scopes": ["chat:write", "admin"]})
    assert (answer["error"], counts()) == ("invalid_scope", before)


def test_only_admins_manage_apps(cell: RunningCell, ws: Workspace) -> None:
    """A member, another workspace's admin and an app's own token are refused (not_allowed); nothing is created."""
    member = cell.user(ws, "mia")
    other = cell.workspace("other")
    app = make_app(cell, ws, "Self-made", ["chat:write"])
    path = f"/v1/workspaces/{ws.id}/apps"
    answers = [admin_call(cell, path, {"name": "X"}, token=token)["error"]
               for token in (member.token, other.owner.token, app.bot_token)]
    listed = admin_call(cell, path, token=ws.owner.token, method="GET")["apps"]
    assert (answers, [a["id"] for a in listed]) == (["not_allowed"] * 3, [app.id])


def test_a_workspace_admin_installs_with_user_scopes_for_themself(cell: RunningCell, ws: Workspace) -> None:
    """A workspace admin creating an app with user scopes gets a user token of their own, holding those scopes."""
    answer = admin_call(cell, f"/v1/workspaces/{ws.id}/apps", {"name": "Mine", "user_scopes": ["users:read"]},
                        token=ws.owner.token)
    me = WebClient(token=answer["user_token"], base_url=cell.api).auth_test()
    assert (me["user_id"], me.headers["x-oauth-scopes"]) == (ws.owner.id, "users:read")
