"""Names that cannot deceive, and sign-in that cannot be guessed: through the router, as a client meets them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.hardening.conftest import Edge, Made
from tests.support.cells import ADMIN_TOKEN, PASSWORD


@pytest.fixture(scope="module")
def made(edge: Edge) -> Made:
    return edge.workspace()


@pytest.mark.parametrize("name", ["general\u200b", "gen\u202eeral", "\ufeffgeneral", "gen\u2028eral",
                                  "gen\ue000eral", "gen\u00aderal", "Gen\u00c9ral"])
def test_deceptive_channel_names_are_refused(edge: Edge, made: Made, name: str) -> None:
    """Zero-width, bidi, BOM, line separator, private-use, soft hyphen and uppercase: invalid_name_specials."""
    before = edge.fingerprint()
    answer = edge.slack("conversations.create", made.token, data={"name": name}).json()
    assert ("invalid_name_specials", True) == (answer["error"], before == edge.fingerprint())


def test_fullwidth_general_is_general(edge: Edge, made: Made) -> None:
    """A channel name is normalised (NFKC): fullwidth "general" is taken by #general."""
    answer = edge.slack("conversations.create", made.token, data={"name": "\uff47\uff45\uff4e\uff45\uff52\uff41\uff4c"})
    assert "name_taken" == answer.json()["error"]


def test_lowercase_names_in_any_script_are_fine(edge: Edge, made: Made) -> None:
    """Slack allows lowercase letters of any script: a Japanese or accented name is created as given."""
    answer = edge.slack("conversations.create", made.token, data={"name": "café-日本"}).json()
    assert (True, "café-日本") == (answer["ok"], answer["channel"]["name"])


@pytest.mark.parametrize(("path", "body"), [
    ("users", {"email": "zw@example.com", "name": "ann\u200b", "password": PASSWORD}),
    ("users", {"email": "rtl@example.com", "name": "\u202eadmin", "password": PASSWORD}),
    ("bots", {"name": "deploy\u2066bot"}),
    ("bots", {"name": "   "}),
])
def test_deceptive_people_and_bot_names_are_refused(edge: Edge, made: Made, path: str, body: dict[str, Any]) -> None:
    """Display names and bot (app) names follow the same rules: invalid_name, nothing created."""
    before = edge.fingerprint()
    answer = edge.http.post(f"{edge.router.url}/v1/workspaces/{made.id}/{path}", json=body,
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert ("invalid_name", True) == (answer["error"], before == edge.fingerprint())


_addresses = iter(range(2, 250))


@pytest.fixture
def clients() -> Iterator[Callable[[], httpx.Client]]:
    """Clients on loopback addresses of their own: the router sees each as a different client address."""
    made: list[httpx.Client] = []

    def new() -> httpx.Client:
        made.append(httpx.Client(transport=httpx.HTTPTransport(local_address=f"127.0.0.{next(_addresses)}"),
                                 timeout=30))
        return made[-1]
    yield new
    for client in made:
        client.close()


@pytest.mark.parametrize("filename", ["invoice\u202efdp.exe", "report\u200b.pdf", "\ufeffnotes.txt"])
def test_deceptive_file_names_are_refused(edge: Edge, made: Made, filename: str) -> None:
    """A file name that reorders or hides characters (``invoice<RLO>fdp.exe`` shows as invoiceexe.pdf) is refused."""
    before = edge.fingerprint()
    answer = edge.slack("files.getUploadURLExternal", made.token, data={"filename": filename, "length": "10"}).json()
    assert ("invalid_arguments", True) == (answer["error"], before == edge.fingerprint())


def _sign_in(edge: Edge, made: Made, email: str, password: str, client: httpx.Client | None = None) -> httpx.Response:
    return (client or edge.http).post(f"{edge.router.url}/v1/auth/signin",
                                      json={"workspace_id": made.id, "email": email, "password": password})


def test_wrong_passwords_are_throttled_with_backoff(edge: Edge, clients: Callable[[], httpx.Client]) -> None:
    """Five wrong passwords, then even the right one waits: 429 ratelimited with Retry-After; all audited."""
    made, client = edge.workspace(), clients()
    wrong = [_sign_in(edge, made, made.email, f"guess-{n}", client).json()["error"] for n in range(5)]
    throttled = _sign_in(edge, made, made.email, PASSWORD, clients())
    with psycopg.connect(edge.cell.dsn) as conn:
        audited = conn.execute("SELECT outcome FROM sign_in_attempts WHERE workspace_id = %s ORDER BY id",
                               (made.id,)).fetchall()
    assert (["invalid_auth"] * 5, 429, "ratelimited", True, [("failed",)] * 5 + [("throttled",)]) == (
        wrong, throttled.status_code, throttled.json()["error"], int(throttled.headers["retry-after"]) >= 1, audited)


def test_guessing_across_accounts_is_throttled_per_address(edge: Edge, clients: Callable[[], httpx.Client]) -> None:
    """Failures from one address across accounts, known or not, throttle that address (8 here, 20 by default)."""
    made, client = edge.workspace(), clients()
    errors = [_sign_in(edge, made, f"nobody{n}@example.com", "x", client).json()["error"] for n in range(8)]
    assert (["invalid_auth"] * 8, 429, True) == (
        errors, _sign_in(edge, made, made.email, PASSWORD, client).status_code,
        _sign_in(edge, made, made.email, PASSWORD, clients()).json()["ok"])


def test_unknown_email_is_checked_like_a_wrong_password(edge: Edge, clients: Callable[[], httpx.Client]) -> None:
    """An unknown email answers exactly what a wrong password answers (and pays the same hash check)."""
    made, client = edge.workspace(), clients()
    unknown, wrong = _sign_in(edge, made, "ghost@example.com", "pw", client), _sign_in(edge, made, made.email, "pw", client)
    assert (unknown.status_code, unknown.json()) == (wrong.status_code, wrong.json())


def test_right_password_signs_in(edge: Edge, clients: Callable[[], httpx.Client]) -> None:
    """A few failures below the threshold do not stop the right password."""
    made, client = edge.workspace(), clients()
    for n in range(3):
        _sign_in(edge, made, made.email, f"typo-{n}", client)
    assert _sign_in(edge, made, made.email, PASSWORD, client).json()["ok"]


def test_old_sign_in_attempts_are_pruned_as_new_ones_come(edge: Edge, clients: Callable[[], httpx.Client]) -> None:
    """Attempts older than ``sign_in.keep_days`` (30) go, a bounded batch (100) with each new
    attempt, oldest first; recent ones stay (they are the audit and the throttle's memory)."""
    made = edge.workspace()
    with psycopg.connect(edge.cell.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO sign_in_attempts (workspace_id, email, address, outcome, at)"
                     " SELECT %s, 'old@example.com', '-', 'failed', now() - make_interval(days => 31, secs => n)"
                     " FROM generate_series(1, 150) n", (made.id,))
        conn.execute("INSERT INTO sign_in_attempts (workspace_id, email, address, outcome, at)"
                     " VALUES (%s, 'recent@example.com', '-', 'failed', now() - interval '29 days')", (made.id,))

        def left() -> list[tuple[str, int]]:
            return [(r[0], int(r[1])) for r in conn.execute(
                "SELECT email, count(*) FROM sign_in_attempts WHERE workspace_id = %s AND email <> %s"
                " GROUP BY email ORDER BY email", (made.id, made.email)).fetchall()]
        assert _sign_in(edge, made, made.email, PASSWORD, clients()).json()["ok"]
        after_one = left()
        assert _sign_in(edge, made, made.email, PASSWORD, clients()).json()["ok"]
        after_two = left()
    assert (after_one, after_two) == ([("old@example.com", 50), ("recent@example.com", 1)],
                                      [("recent@example.com", 1)])
