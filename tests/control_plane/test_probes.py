"""The control plane's /livez, /readyz and /metrics (no token): a running move's phase, lag and
phase start are series a "move stuck" alert can use."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import psycopg

from control_plane.orchestrator import _LOCK_KEY
from tests.support.control_plane import deployment, running_control_plane
from tests.support.infra import Infra
from tests.support.metrics import scrape, total


def test_probes_and_move_series(infra: Infra) -> None:
    """/livez and /readyz answer 200 on a migrated catalog; with a move running, /metrics has
    cellchat_move_phase{phase} 1, its replication lag, and when it entered that phase."""
    with deployment(infra, {"us-1": "us", "us-2": "us"}, provision=False) as dep:
        cp = dep.control_plane
        assert [httpx.get(f"{cp.url}/{p}").status_code for p in ("livez", "readyz")] == [200, 200]
        assert httpx.get(f"{cp.url}/readyz").json()["checks"] == {"catalog": "ok", "schema": "ok"}
        cp.query("INSERT INTO workspaces (workspace_id, name, cell) VALUES ('T0PROBE00001', 'w', 'us-1') RETURNING 1")
        cp.query("INSERT INTO moves (workspace_id, source, target, status, phase, requested_by, role, progress)"
                 " VALUES ('T0PROBE00001', 'us-1', 'us-2', 'running', 'replicating', 'alice', 'sre',"
                 " '{\"lag_bytes\": 4096, \"lag_seconds\": 0.5}') RETURNING 1")
        samples = scrape(cp.url)
        assert total(samples, "cellchat_move_phase", phase="replicating", workspace="T0PROBE00001") == 1
        assert total(samples, "cellchat_move_replication_lag_bytes") == 4096
        assert total(samples, "cellchat_move_phase_started_timestamp_seconds", phase="replicating") > 0
        assert total(samples, "cellchat_cells", status="provisioning") == 2


def test_move_phase_clock_survives_a_control_plane_restart(infra: Infra) -> None:
    """The phase-start series comes from the catalog (when the move entered its phase), not from
    when a process first saw it: a control plane started later over the same catalog reports the
    same time, so a "move stuck" alert keeps its clock across restarts."""
    with deployment(infra, {"us-1": "us", "us-2": "us"}, provision=False) as dep:
        cp = dep.control_plane
        cp.query("INSERT INTO workspaces (workspace_id, name, cell) VALUES ('T0PROBE00002', 'w', 'us-1') RETURNING 1")
        (move,) = cp.query(
            "INSERT INTO moves (workspace_id, source, target, status, phase, requested_by, role, progress, started_at)"
            " VALUES ('T0PROBE00002', 'us-1', 'us-2', 'running', 'replicating', 'alice', 'sre',"
            " '{\"phases\": {\"preparing\": \"2026-11-30T23:00:00+00:00\","
            " \"replicating\": \"2026-12-01T00:00:00.250000+00:00\"}}', now()) RETURNING id")
        entered = datetime(2026, 12, 1, 0, 0, 0, 250_000, tzinfo=UTC).timestamp()
        first = total(scrape(cp.url), "cellchat_move_phase_started_timestamp_seconds", phase="replicating")
        # The move is driven by another replica (it holds the move's lock), so the new control plane
        # only reports it; it starts over the same catalog after the first one stopped.
        with psycopg.connect(cp.dsn, autocommit=True) as other:
            other.execute("SELECT pg_advisory_lock(%(k)s, %(id)s)", {"k": _LOCK_KEY, "id": move["id"]})
            cp.stop()
            time.sleep(1.5)  # the restart happens later than the first scrape (not a timing assert)
            with running_control_plane(infra, database={"dsn": cp.dsn}) as restarted:
                second = total(scrape(restarted.url), "cellchat_move_phase_started_timestamp_seconds",
                               phase="replicating")
        assert (first, second) == (entered, entered)
