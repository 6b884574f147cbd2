"""The control plane's /livez, /readyz and /metrics (no token): a running move's phase, lag and
phase start are series a "move stuck" alert can use."""

from __future__ import annotations

import httpx

from tests.support.control_plane import deployment
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
