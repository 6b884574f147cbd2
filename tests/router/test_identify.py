"""Reading the workspace of a request without any lookup."""

from __future__ import annotations

from router.identify import workspace_of

TOKEN = "xoxp-TAAAAAAAA1-KBBBBBBBB2-secret"


def test_bearer_token() -> None:
    """The Authorization header's token names the workspace."""
    assert "TAAAAAAAA1" == workspace_of("/api/chat.postMessage", f"Bearer {TOKEN}", None, b"", "")


def test_query_token() -> None:
    """A token= query parameter names the workspace."""
    assert "TAAAAAAAA1" == workspace_of("/api/auth.test", None, TOKEN, b"", "")


def test_form_token() -> None:
    """A token field in a form body names the workspace."""
    body = f"channel=C1&token={TOKEN}".encode()
    assert "TAAAAAAAA1" == workspace_of("/api/chat.postMessage", None, None, body, "application/x-www-form-urlencoded")


def test_json_token() -> None:
    """A token field in a JSON body names the workspace."""
    body = f'{{"token": "{TOKEN}"}}'.encode()
    assert "TAAAAAAAA1" == workspace_of("/api/auth.test", None, None, body, "application/json")


def test_sign_in_body() -> None:
    """Sign-in names its workspace in the JSON body."""
    body = b'{"workspace_id": "TCCCCCCCC3", "email": "a@b.c", "password": "x"}'
    assert "TCCCCCCCC3" == workspace_of("/v1/auth/signin", None, None, body, "application/json")


def test_admin_path() -> None:
    """/v1/workspaces/<id>/... names it in the path."""
    assert "TDDDDDDDD4" == workspace_of("/v1/workspaces/TDDDDDDDD4/users", f"Bearer {TOKEN}", None, b"", "")


def test_malformed_token_names_none() -> None:
    """A token that is not ours names no workspace."""
    assert None is workspace_of("/api/auth.test", "Bearer xoxp-nope", None, b"", "")


def test_broken_json_names_none() -> None:
    """A sign-in body that is not JSON names no workspace."""
    assert None is workspace_of("/v1/auth/signin", None, None, b"{not json", "application/json")


def test_incoming_webhook_path() -> None:
    """An incoming webhook's /services/<W>/<B>/<secret> names its workspace in the path (no token)."""
    assert "TEEEEEEEE5" == workspace_of("/services/TEEEEEEEE5/BFFFFFFFF6/abc", None, None, b'{"text": "x"}',
                                        "application/json")


def test_incoming_webhook_path_without_a_workspace_names_none() -> None:
    """A /services path whose first segment is not a workspace id names none (the router refuses it)."""
    assert None is workspace_of("/services/nope/BFFFFFFFF6/abc", None, None, b"", "")


def test_app_level_token() -> None:
    """An app-level token (xapp, Socket Mode) names its workspace like the others."""
    assert "TAAAAAAAA1" == workspace_of("/api/apps.connections.open", "Bearer xapp-TAAAAAAAA1-KBBBBBBBB2-s", None,
                                        b"", "")
