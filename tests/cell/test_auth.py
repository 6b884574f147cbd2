"""Sign-in, tokens and the admin /v1 endpoints."""

from __future__ import annotations

import httpx
import psycopg
from slack_sdk import WebClient

from cell.domain import tokens
from tests.support.cells import ADMIN_TOKEN, PASSWORD, RunningCell


def signin(cell: RunningCell, workspace_id: str, email: str, password: str) -> dict[str, object]:
    body = {"workspace_id": workspace_id, "email": email, "password": password}
    answer: dict[str, object] = httpx.post(f"{cell.url}/v1/auth/signin", json=body).json()
    return answer


def test_sign_in_returns_a_working_token(cell: RunningCell) -> None:
    """Email and password give a user token that names its workspace and works on the API."""
    ws = cell.workspace()
    answer = signin(cell, ws.id, ws.owner.email, PASSWORD)
    token = str(answer["token"])
    assert tokens.workspace_of(token) == ws.id
    assert WebClient(token=token, base_url=cell.api).auth_test()["user_id"] == ws.owner.id


def test_sign_in_email_is_case_insensitive(cell: RunningCell) -> None:
    """Sign-in matches the email without regard to case."""
    ws = cell.workspace()
    assert signin(cell, ws.id, ws.owner.email.upper(), PASSWORD)["ok"] is True


def test_wrong_password_is_invalid_auth(cell: RunningCell) -> None:
    """A wrong password answers invalid_auth and issues no token."""
    ws = cell.workspace()
    with psycopg.connect(cell.dsn) as conn:
        before = conn.execute("SELECT count(*) FROM tokens").fetchone()
    answer = signin(cell, ws.id, ws.owner.email, "wrong password")
    with psycopg.connect(cell.dsn) as conn:
        after = conn.execute("SELECT count(*) FROM tokens").fetchone()
    assert (answer["error"], before) == ("invalid_auth", after)


def test_unknown_email_is_invalid_auth(cell: RunningCell) -> None:
    """An email that is not in the workspace answers invalid_auth."""
    ws = cell.workspace()
    assert signin(cell, ws.id, "nobody@example.com", PASSWORD)["error"] == "invalid_auth"


def test_sign_in_to_another_workspace_is_refused(cell: RunningCell) -> None:
    """A person of workspace A cannot sign in to workspace B with their credentials."""
    a, b = cell.workspace("a"), cell.workspace("b")
    assert signin(cell, b.id, a.owner.email, PASSWORD)["error"] == "invalid_auth"


def test_unknown_workspace_is_team_not_found(cell: RunningCell) -> None:
    """Sign-in to a workspace this cell does not host answers team_not_found."""
    assert signin(cell, "TNOSUCHTEAM", "a@example.com", PASSWORD)["error"] == "team_not_found"


def test_revoked_token_stops_working(cell: RunningCell) -> None:
    """auth.revoke ends the token: the next call answers token_revoked."""
    ws = cell.workspace()
    person = cell.user(ws, "rita")
    client = WebClient(token=person.token, base_url=cell.api)
    assert client.auth_revoke()["revoked"] is True
    answer = httpx.post(f"{cell.api}auth.test", headers={"Authorization": f"Bearer {person.token}"}).json()
    assert answer == {"ok": False, "error": "token_revoked"}


def test_admin_revokes_a_bot_token(cell: RunningCell) -> None:
    """An admin can revoke a bot's token; the bot then gets token_revoked."""
    ws = cell.workspace()
    bot, bot_id = cell.bot(ws, "deploybot")
    token_id = bot.token.split("-")[2]
    assert WebClient(token=bot.token, base_url=cell.api).auth_test()["bot_id"] == bot_id
    cell.admin(f"/v1/workspaces/{ws.id}/tokens/{token_id}/revoke", {})
    answer = httpx.post(f"{cell.api}auth.test", headers={"Authorization": f"Bearer {bot.token}"}).json()
    assert answer["error"] == "token_revoked"


def test_bot_token_is_xoxb(cell: RunningCell) -> None:
    """Bots get xoxb tokens; people get xoxp tokens."""
    ws = cell.workspace()
    bot, _ = cell.bot(ws, "b")
    assert (bot.token[:4], ws.owner.token[:4]) == ("xoxb", "xoxp")


def test_admin_endpoints_need_the_admin_token(cell: RunningCell) -> None:
    """Creating a workspace without the admin token is refused and creates nothing."""
    body = {"name": "x", "owner": {"email": "o@example.com", "name": "o", "password": PASSWORD}}
    no_token = httpx.post(f"{cell.url}/v1/workspaces", json=body).json()
    wrong = httpx.post(f"{cell.url}/v1/workspaces", json=body, headers={"Authorization": "Bearer nope"}).json()
    with psycopg.connect(cell.dsn) as conn:
        count = conn.execute("SELECT count(*) FROM workspaces").fetchone()
    assert (no_token["error"], wrong["error"], count) == ("not_authed", "not_allowed_token_type", (0,))


def test_member_cannot_add_users_but_workspace_admin_can(cell: RunningCell) -> None:
    """Only admins (the cell's, or the workspace's) add people to a workspace."""
    ws = cell.workspace()
    member = cell.user(ws, "mo")
    body = {"email": "new@example.com", "name": "new", "password": PASSWORD}
    refused = httpx.post(f"{cell.url}/v1/workspaces/{ws.id}/users", json=body,
                         headers={"Authorization": f"Bearer {member.token}"}).json()
    allowed = httpx.post(f"{cell.url}/v1/workspaces/{ws.id}/users", json=body,
                         headers={"Authorization": f"Bearer {ws.owner.token}"}).json()
    assert (refused["error"], allowed["ok"]) == ("not_allowed", True)


def test_workspace_admin_cannot_add_users_to_another_workspace(cell: RunningCell) -> None:
    """A workspace admin's token is refused on another workspace's /v1 endpoints."""
    a, b = cell.workspace("a"), cell.workspace("b")
    body = {"email": "sneak@example.com", "name": "sneak", "password": PASSWORD}
    answer = httpx.post(f"{cell.url}/v1/workspaces/{b.id}/users", json=body,
                        headers={"Authorization": f"Bearer {a.owner.token}"}).json()
    assert answer["error"] == "not_allowed"


def test_duplicate_email_is_refused(cell: RunningCell) -> None:
    """Adding a second person with the same email (any case) answers email_taken."""
    ws = cell.workspace()
    cell.user(ws, "dup")
    body = {"email": f"DUP@{ws.id.lower()}.example.com", "name": "dup2", "password": PASSWORD}
    answer = httpx.post(f"{cell.url}/v1/workspaces/{ws.id}/users", json=body,
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert answer["error"] == "email_taken"


def test_invalid_admin_body_names_the_field(cell: RunningCell) -> None:
    """A malformed /v1 body answers invalid_arguments naming the bad field, creating nothing."""
    answer = httpx.post(f"{cell.url}/v1/workspaces", json={"name": "x", "owner": {"email": "not-an-email",
                        "name": "o", "password": PASSWORD}}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert answer["error"] == "invalid_arguments"
    assert "owner.email" in answer["response_metadata"]["messages"][0]


def test_region_pin_must_match_the_cell(cell: RunningCell) -> None:
    """A cell refuses to host a workspace pinned to another region."""
    body = {"name": "x", "region_pin": "mars",
            "owner": {"email": "o@example.com", "name": "o", "password": PASSWORD}}
    answer = httpx.post(f"{cell.url}/v1/workspaces", json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert answer.json()["error"] == "region_mismatch"


def test_openapi_document_lists_the_admin_endpoints(cell: RunningCell) -> None:
    """/v1/openapi.json describes the /v1 endpoints."""
    paths = httpx.get(f"{cell.url}/v1/openapi.json").json()["paths"]
    assert {"/v1/workspaces", "/v1/auth/signin", "/v1/health"} <= set(paths)
