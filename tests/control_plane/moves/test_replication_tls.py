"""A live move between cells whose PostgreSQL servers accept TCP connections over TLS only (hostssl):
the move's subscription verifies the source (sslmode=verify-full) and its walsender runs over TLS."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from slack_sdk import WebClient

from cell.embedded import EmbeddedRedis
from control_plane.moves.replication import object_name, subscription_conninfo
from tests.support.infra import Infra
from tests.support.moves import Cell, Held, Server, Stack, servers, stack


@pytest.fixture(scope="module")
def tls_servers() -> Iterator[list[Server]]:
    with servers(2, tls=True) as started:
        yield started


@pytest.fixture(scope="module")
def tls_cells(infra: Infra, tls_servers: list[Server], move_caches: list[EmbeddedRedis]) -> Iterator[Stack]:
    """us-1 and us-2 on the two TLS servers; cells.yaml names their verify-full DSNs; the control plane
    gives subscriptions the CA copy on the target's server (moves.subscription_sslrootcert)."""
    root = tls_servers[1].postgres.root_cert
    with stack(infra, [("us-1", "us", tls_servers[0], move_caches[0]),
                       ("us-2", "us", tls_servers[1], move_caches[1])], capacity={"us-1": 1000},
               env={"CELLCHAT_CP_MOVES__SUBSCRIPTION_SSLROOTCERT": str(root)}) as running:
        yield running


def _walsender(source: Cell, workspace: str, within: float = 60.0) -> dict[str, object]:
    """The move's walsender on the source, once it streams, with its connection's pg_stat_ssl row."""
    deadline = time.monotonic() + within
    while True:
        rows = source.query(
            "SELECT r.state, s.ssl, s.version FROM pg_stat_replication r JOIN pg_stat_ssl s ON s.pid = r.pid"
            " WHERE r.application_name = %(n)s AND r.state = 'streaming'", {"n": object_name(workspace)})
        if rows:
            return rows[0]
        if time.monotonic() > deadline:
            raise TimeoutError(f"no streaming walsender for {workspace}")
        time.sleep(0.02)


def test_live_move_replicates_over_verified_tls(tls_cells: Stack) -> None:
    """While the move streams, the source's walsender for it is an SSL connection, and the target's
    subscription verifies the source's certificate and host name against the CA on its own server."""
    cp, us1, us2 = tls_cells.control_plane, tls_cells.cells["us-1"], tls_cells.cells["us-2"]
    made = cp.create_workspace("us")
    workspace = made["workspace"]["id"]
    client = WebClient(token=made["token"], base_url=f"{us1.url}/api/")
    for i in range(3):
        client.chat_postMessage(channel=made["general"], text=f"message {i}")
    # SHARE on the target's messages: the initial copy of that table (and so the move) waits until the
    # checks below are done, while the subscription's apply worker already streams from the source.
    held = Held(us2.dsn, "LOCK TABLE messages IN SHARE MODE")
    try:
        move = cp.move(workspace, "us-2")["id"]
        sender = _walsender(us1, workspace)
        conninfo = us2.query("SELECT subconninfo FROM pg_subscription WHERE subname = %(n)s",
                             {"n": object_name(workspace)})[0]["subconninfo"]
    finally:
        held.release()
    done = cp.wait_for(move)
    history = WebClient(token=made["token"], base_url=f"{us2.url}/api/").conversations_history(
        channel=made["general"], limit=100)
    root = tls_cells.cells["us-2"].server.postgres.root_cert
    assert ("streaming", True, "done", 3) == (
        sender["state"], sender["ssl"], done["status"],
        sum(1 for m in history["messages"] if str(m["text"]).startswith("message ")))
    assert {"sslmode=verify-full", f"sslrootcert={root}"} <= set(conninfo.split()), conninfo


def test_subscription_without_tls_is_refused_by_hostssl(tls_cells: Stack) -> None:
    """A subscription that would replicate in the clear (sslmode=disable) cannot even connect."""
    us1, us2 = tls_cells.cells["us-1"], tls_cells.cells["us-2"]
    plain = psycopg.conninfo.make_conninfo(us1.dsn, sslmode="disable", sslrootcert="")
    with psycopg.connect(us2.dsn, autocommit=True) as conn, pytest.raises(psycopg.OperationalError) as refused:
        conn.execute(psycopg.sql.SQL("CREATE SUBSCRIPTION cleartext CONNECTION {} PUBLICATION anything")
                     .format(psycopg.sql.Literal(plain)))
    assert "no encryption" in str(refused.value), refused.value
    assert us2.replication_objects()["subscriptions"] == 0


def test_subscription_conninfo_verifies_only_sources_declared_with_tls() -> None:
    """A plain DSN is used as it is (dev up); one asking for TLS is upgraded to verify-full against the
    target server's CA, or keeps its own sslrootcert when none is set."""
    plain = "postgresql://postgres@127.0.0.1:5432/cellchat"
    required = "postgresql://cellchat:pw@pg-us-1.internal:5432/cellchat?sslmode=require"
    own = "postgresql://cellchat@pg-us-1.internal/cellchat?sslmode=verify-ca&sslrootcert=/etc/ca.crt"
    assert plain == subscription_conninfo(plain, "/srv/ca.crt")
    assert psycopg.conninfo.conninfo_to_dict(subscription_conninfo(required, "/srv/ca.crt")) == {
        "user": "cellchat", "password": "pw", "host": "pg-us-1.internal", "port": "5432", "dbname": "cellchat",
        "sslmode": "verify-full", "sslrootcert": "/srv/ca.crt"}
    assert {"sslmode": "verify-full", "sslrootcert": "/etc/ca.crt"}.items() <= (
        psycopg.conninfo.conninfo_to_dict(subscription_conninfo(own)).items())
