"""Metrics and logs of a real deployment (``cellctl dev up``: control plane, router, cell
supervisor and cell processes) under a small workload: the named series exist and move, every
log line is JSON with the required fields, the request id goes router -> cell -> answer, and no
token, password or message text reaches any log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from websockets.sync.client import connect

from cli.dev.seed import PASSWORD
from tests.support.devup import DevUp
from tests.support.metrics import Samples, present, scrape, total

SECRET_TEXT = "the launch code is 0xDEADBEEF-do-not-log"
REQUEST_ID = "e2e-request-0123456789"
REQUIRED = {"ts", "level", "role", "cell", "workspace", "request_id", "msg"}

def moved(run: Run, role: str, name: str, **labels: str) -> float:
    """How much a series grew during the workload."""
    return total(run.during[role], name, **labels) - total(run.before[role], name, **labels)


@dataclass
class Run:
    dev: dict[str, Any]
    before: dict[str, Samples] = field(default_factory=dict)
    during: dict[str, Samples] = field(default_factory=dict)
    answer_request_id: str | None = None
    secrets: list[str] = field(default_factory=list)
    logs: dict[str, list[str]] = field(default_factory=dict)
    openapi: dict[str, Any] = field(default_factory=dict)  # "cell", "control-plane": through the router


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    folder: Path = tmp_path_factory.mktemp("observe")
    devup = DevUp(folder)
    try:
        dev = devup.start()
        cell = dev["cells"][0]
        roles = {"router": dev["router"], "control-plane": dev["control_plane"], "cell": cell["api"]}
        result = Run(dev)
        result.before = {role: scrape(url) for role, url in roles.items()}
        ws = next(w for w in dev["workspaces"] if w["cell"] == cell["name"])
        user = ws["users"][0]
        signed = httpx.post(f"{dev['router']}/v1/auth/signin", headers={"X-Request-Id": REQUEST_ID},
                            json={"workspace_id": ws["id"], "email": user["email"], "password": PASSWORD})
        result.answer_request_id = signed.headers.get("x-request-id")
        token = signed.json()["token"]
        client = WebClient(token=token, base_url=f"{dev['router']}/api/")
        general = next(c["id"] for c in client.conversations_list()["channels"] if c["name"] == "general")
        url = client.rtm_connect()["url"]
        with connect(url) as socket:
            assert json.loads(socket.recv(timeout=10))["type"] == "hello"
            client.chat_postMessage(channel=general, text=SECRET_TEXT)
            for _ in range(25):  # rtm.connect is tier 1 (20 a minute): the last ones are refused
                try:
                    client.rtm_connect()
                except SlackApiError:
                    pass
            operator = json.loads((folder / ".cellchat" / "secrets.json").read_text())["operator"]
            cells = httpx.get(f"{dev['control_plane']}/v1/cells", headers={"Authorization": f"Bearer {operator}"})
            assert cells.status_code == 200
            result.during = {role: scrape(url) for role, url in roles.items()}
        result.openapi = {name: httpx.get(f"{dev['router']}{path}", timeout=10).json() for name, path in (
            ("cell", "/v1/openapi.json"), ("control-plane", "/v1/control-plane/openapi.json"))}
        result.secrets = [token, PASSWORD, SECRET_TEXT, user["token"], *json.loads(
            (folder / ".cellchat" / "secrets.json").read_text()).values()]
    finally:
        devup.interrupt()
    for path in sorted((folder / ".cellchat").rglob("*.log")):
        if path.name in ("postgres.log", "redis.log") or "postgres" in path.parts or "redis" in path.parts:
            continue  # the embedded servers' own logs: not our processes
        result.logs[str(path.relative_to(folder))] = path.read_text().splitlines()
    yield result


def test_router_series_exist_and_move(run: Run) -> None:
    """Requests per Slack method and per route, with the cell, and latency histograms."""
    assert moved(run, "router", "cellchat_router_requests_total", method="chat.postMessage") == 1
    assert moved(run, "router", "cellchat_router_requests_total", route="/v1/auth/signin") == 1
    assert moved(run, "router", "cellchat_router_request_duration_seconds_count", method="rtm.connect") == 26
    assert moved(run, "router", "cellchat_router_requests_total", code="429") >= 5
    assert total(run.during["router"], "cellchat_router_routing_version") >= 1


def test_cell_series_exist_and_move(run: Run) -> None:
    """Web API per method, errors, rate-limit refusals, sockets and send queues of the gateway,
    outbox depth and relay lag, the PostgreSQL pool and Redis round trips."""
    during = run.during["cell"]
    assert moved(run, "cell", "cellchat_api_requests_total", method="chat.postMessage") == 1
    assert moved(run, "cell", "cellchat_rate_limited_total", method="rtm.connect") >= 5
    assert moved(run, "cell", "cellchat_api_errors_total", error="ratelimited") >= 5
    assert moved(run, "cell", "cellchat_api_request_duration_seconds_count", method="rtm.connect") == 26
    assert total(during, "cellchat_gateway_connections") >= 1
    assert present(during, "cellchat_gateway_send_queue_depth")
    assert present(during, "cellchat_outbox_depth") and present(during, "cellchat_relay_lag_seconds")
    assert total(during, "cellchat_db_pool_size") >= 1 and present(during, "cellchat_db_pool_in_use")
    assert total(during, "cellchat_redis_rtt_seconds_count") >= 1
    assert total(during, "cellchat_process_info", role="all") == 1


def test_control_plane_series_exist_and_move(run: Run) -> None:
    """Requests per route, and cells by status (moves: tests/e2e for moves scrape them)."""
    assert moved(run, "control-plane", "cellchat_control_plane_requests_total") >= 1
    assert total(run.during["control-plane"], "cellchat_cells", status="active") == len(run.dev["cells"])


def test_the_request_id_goes_from_the_router_to_the_cell_and_back(run: Run) -> None:
    """The client's X-Request-Id comes back in the answer, and both the router's and the cell's
    access lines carry it."""
    assert run.answer_request_id == REQUEST_ID
    roles = {json.loads(line)["role"] for lines in run.logs.values() for line in lines
             if REQUEST_ID in line and json.loads(line).get("logger") == "cellchat.access"}
    assert roles == {"router", "all"}


def test_every_log_line_is_json_with_the_required_fields(run: Run) -> None:
    """Every line of every process's log parses as JSON and has ts, level, role, cell,
    workspace, request id and msg; access lines name the workspace of authenticated requests."""
    bad = []
    access = []
    for name, lines in run.logs.items():
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                bad.append(f"{name}: {line[:200]}")
                continue
            if not REQUIRED <= set(record):
                bad.append(f"{name}: missing {sorted(REQUIRED - set(record))}: {line[:200]}")
            if record.get("logger") == "cellchat.access":
                access.append(record)
    assert bad == []
    assert {"router", "control-plane", "all", "cell-supervisor"} <= {json.loads(x)["role"] for ls in run.logs.values() for x in ls}
    posted = [a for a in access if a["path"] == "/api/chat.postMessage" and a["role"] == "all"]
    assert posted and {(a["status"], a["workspace"] is not None) for a in posted} == {(200, True)}


def test_no_secret_reaches_any_log(run: Run) -> None:
    """No token (the signed-in one, the demo ones, the deployment's keys), no password and no
    message text in any line of any log."""
    leaks = [f"{name}: {secret[:12]}…" for name, lines in run.logs.items() for line in lines
             for secret in run.secrets if secret and secret in line]
    assert leaks == []


def test_openapi_documents_are_complete_and_reachable_through_the_router(run: Run) -> None:
    """Both documents come through the router. The cell's has every Slack method of the registry
    with its arguments' schema; in both, every endpoint that takes a body has its schema, and
    every answer has a schema."""
    from cell.api import methods
    from cell.api.registry import METHODS

    methods.load()
    cell, cp = run.openapi["cell"], run.openapi["control-plane"]
    assert {f"/api/{name}" for name in METHODS} <= set(cell["paths"])
    assert "channel" in cell["paths"]["/api/chat.postMessage"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"]
    for doc, with_body in ((cell, ["/v1/auth/signin", "/v1/workspaces"]),
                           (cp, ["/v1/cells/apply", "/v1/migrations", "/v1/cells/{name}/undrain"])):
        for path in with_body:
            assert "properties" in doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        missing = [f"{verb} {path}" for path, ops in doc["paths"].items() for verb, op in ops.items()
                   if not op.get("responses") or any("content" not in a for a in op["responses"].values())]
        assert missing == []
