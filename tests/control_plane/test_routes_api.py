"""/v1/routes: snapshots, the change feed, the push stream, single lookups; versions only move forward."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from tests.support.control_plane import VIEWER, Deployment, RunningControlPlane


def test_snapshot_has_cells_and_routes(regions: Deployment) -> None:
    """The snapshot lists both active cells and the new workspace's route."""
    cp = regions.control_plane
    workspace = cp.create_workspace("us")["workspace"]["id"]
    table = cp.ok("GET", "/v1/routes", token=VIEWER)["table"]
    assert (["eu-1", "us-1"], {workspace: "us-1"}) == (sorted(c["name"] for c in table["cells"]), table["routes"])


def test_changes_are_numbered_without_gaps(regions: Deployment) -> None:
    """Every change has the next version: 1..head with no hole."""
    cp = regions.control_plane
    for region in ("us", "eu", "us"):
        cp.create_workspace(region)
    feed = cp.ok("GET", "/v1/routes/changes", token=VIEWER, params={"since": 0})
    assert list(range(1, feed["version"] + 1)) == [c["version"] for c in feed["changes"]]


def test_changes_since_returns_only_newer(regions: Deployment) -> None:
    """?since=N returns the changes after N only."""
    cp = regions.control_plane
    head = cp.ok("GET", "/v1/routes/changes", token=VIEWER, params={"since": 0})["version"]
    workspace = cp.create_workspace("eu")["workspace"]["id"]
    feed = cp.ok("GET", "/v1/routes/changes", token=VIEWER, params={"since": head})
    assert [(head + 1, "route", workspace, {"cell": "eu-1"})] == [
        (c["version"], c["kind"], c["key"], c["value"]) for c in feed["changes"]]


def test_lookup_answers_one_workspace(regions: Deployment) -> None:
    """GET /v1/routes/<id> names the cell with its endpoints."""
    cp = regions.control_plane
    workspace = cp.create_workspace("eu")["workspace"]["id"]
    found = cp.ok("GET", f"/v1/routes/{workspace}", token=VIEWER)
    assert ("eu-1", regions.cells["eu-1"].url) == (found["cell"]["name"], found["cell"]["api"])


def test_lookup_of_unknown_workspace_is_404(cp: RunningControlPlane) -> None:
    """A workspace without a route is 404."""
    assert 404 == cp.request("GET", "/v1/routes/TNOSUCHTHING", token=VIEWER).status_code


def _first_change(cp: RunningControlPlane, since: int, found: list[dict[str, Any]], ready: threading.Event) -> None:
    with httpx.stream("GET", f"{cp.url}/v1/routes/watch", params={"since": since},
                      headers={"Authorization": f"Bearer {VIEWER}"}, timeout=30.0) as response:
        for line in response.iter_lines():
            event = json.loads(line)
            ready.set()
            if event["type"] == "changes":
                found.append(event)
                return


def test_watch_pushes_a_new_route(regions: Deployment) -> None:
    """A watcher connected before a workspace is created receives its route change on the stream."""
    cp = regions.control_plane
    head = cp.ok("GET", "/v1/routes/changes", token=VIEWER, params={"since": 0})["version"]
    found: list[dict[str, Any]] = []
    ready = threading.Event()
    watcher = threading.Thread(target=_first_change, args=(cp, head, found, ready))
    watcher.start()
    ready.wait(30)
    workspace = cp.create_workspace("us")["workspace"]["id"]
    watcher.join(30)
    assert [[("route", workspace, {"cell": "us-1"})]] == [
        [(c["kind"], c["key"], c["value"]) for c in event["changes"]] for event in found]


def test_watch_from_the_future_says_reset(cp: RunningControlPlane) -> None:
    """A watcher ahead of the catalog (it was reset) is told to take a snapshot."""
    with httpx.stream("GET", f"{cp.url}/v1/routes/watch", params={"since": 99},
                      headers={"Authorization": f"Bearer {VIEWER}"}, timeout=10.0) as response:
        events = [json.loads(line) for line in response.iter_lines()]
    assert [{"type": "reset", "version": 0}] == events
