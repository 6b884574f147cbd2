"""The router routes on the path the client sent, forwards exactly that, and refuses paths that could be read two ways."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.hardening.conftest import Edge


def raw(edge: Edge, method: str, path: str, token: str, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    """One request with ``path`` sent byte for byte (httpx would normalise dot segments away)."""
    where = urlsplit(edge.router.url)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Authorization": f"Bearer {token}",
                                                       "Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.parametrize("path", [
    "/api/..%2F..%2Frtm%2Fpoll",
    "/api/..%2f..%2frtm%2fpoll",
    "/api/../rtm/poll",
    "/api/%2E%2E/rtm/poll",
    "/api/.%2e/rtm/poll",
    "/api/..%5Crtm%5Cpoll",
    "/api/./auth.test",
    "/api//auth.test",
    "/api/auth.test%00",
    "/v1/workspaces/../../rtm/poll",
])
def test_smuggled_paths_are_refused(edge: Edge, path: str) -> None:
    """Dot segments, encoded slashes, backslashes, dots and NULs answer 400 invalid_path and reach no cell."""
    made = edge.workspace()
    assert (400, "invalid_path") == (lambda a: (a[0], a[1]["error"]))(raw(edge, "POST", path, made.token))


def test_a_refused_path_changes_nothing(edge: Edge) -> None:
    """A smuggled path to a write method posts nothing."""
    made = edge.workspace()
    before = edge.fingerprint()
    status, _ = raw(edge, "POST", "/api/x%2F..%2Fchat.postMessage", made.token,
                    f"channel={made.general}&text=hi".encode())
    assert (400, before) == (status, edge.fingerprint())


def test_escaped_method_names_still_work(edge: Edge) -> None:
    """A harmless escape (``%2E`` refused, ``%61`` = ``a`` allowed) reaches the method it names."""
    made = edge.workspace()
    assert (200, True) == (lambda a: (a[0], a[1]["ok"]))(raw(edge, "POST", "/api/%61uth.test", made.token))


def test_a_server_error_costs_nobody_else(edge: Edge) -> None:
    """After a request that fails inside the cell (500), the next request of another user on the router works.

    The failure is real: the table behind pins.add is briefly gone. The cell answers it in Slack's
    envelope and keeps the connection, so the router's pooled connection is still good.
    """
    made = edge.workspace()
    other = edge.workspace()
    general = made.general
    ts = edge.slack("chat.postMessage", made.token, data={"channel": general, "text": "pin me"}).json()["ts"]
    with psycopg.connect(edge.cell.dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE pins RENAME TO pins_away")
        try:
            answers = []
            for _ in range(20):
                failed = edge.slack("pins.add", made.token, data={"channel": general, "timestamp": ts})
                answers.append((failed.status_code, failed.json()["error"],
                                edge.slack("auth.test", other.token).json()["ok"]))
        finally:
            conn.execute("ALTER TABLE pins_away RENAME TO pins")
    assert [(500, "internal_error", True)] * 20 == answers


def test_router_unknown_paths_answer_json(edge: Edge) -> None:
    """A path the router does not serve answers JSON 404, not plain text."""
    answer = edge.http.get(f"{edge.router.url}/_router/nowhere")
    assert (404, {"ok": False, "error": "not_found"}) == (answer.status_code, answer.json())
