"""The router forwards to a cell served over HTTPS, verifying it against the CA in
``proxy.ca_file``: slack_sdk through the router works with the right CA; with a CA that did not
sign the cell's certificate the call is answered 502 ``cell_unavailable`` and nothing is written
(the router never falls back to plain http). A missing or unusable CA file stops start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from router.server import uvicorn_config
from router.settings import RouterSettings, SettingsError
from tests.support.cells import RunningCell, running_cell
from tests.support.control_plane import VIEWER, RunningControlPlane, running_control_plane
from tests.support.infra import Infra
from tests.support.router import running_router
from tests.support.tls import certificates


@dataclass
class HttpsCell:
    cell: RunningCell
    control_plane: RunningControlPlane
    ca: Path  # signed the cell's certificate
    other_ca: Path  # did not
    workspace: dict[str, Any]
    folder: Path


@pytest.fixture(scope="module")
def https_cell(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsCell]:
    folder = tmp_path_factory.mktemp("router-tls")
    (folder / "right").mkdir()
    (folder / "wrong").mkdir()
    ca, cert, key = certificates(folder / "right")
    other_ca, _, _ = certificates(folder / "wrong")
    with running_cell(infra, name="us-1", region="us",
                      api={"port": 0, "tls_cert_file": str(cert), "tls_key_file": str(key)}) as cell:
        api = cell.url.replace("http://", "https://")
        yaml = (f"version: 1\ncells:\n  - name: us-1\n    region: us\n    capacity:\n      workspaces: 10\n"
                f"    endpoints:\n      api: {api}\n      gateway: {api.replace('https://', 'wss://')}/rtm\n")
        # The control plane trusts the CA through SSL_CERT_FILE, as the charts set it (tls.caSecret);
        # it is gone again before any router starts, so the routers trust only their proxy.ca_file.
        with pytest.MonkeyPatch.context() as env:
            env.setenv("SSL_CERT_FILE", str(ca))
            with running_control_plane(infra) as cp:
                cp.ok("POST", "/v1/cells/apply", json={"yaml": yaml})
                cp.ok("POST", "/v1/cells/us-1/provision", json={"wait": True})
                made = cp.create_workspace("us")
                env.delenv("SSL_CERT_FILE")
                yield HttpsCell(cell, cp, ca, other_ca, made, folder)


def _messages(cell: RunningCell) -> int:
    with psycopg.connect(cell.dsn) as conn:
        row = conn.execute("SELECT count(*) FROM messages").fetchone()
    assert row is not None
    return int(row[0])


def test_slack_sdk_through_the_router_to_an_https_cell(https_cell: HttpsCell) -> None:
    made = https_cell.workspace
    with running_router(https_cell.control_plane.url, https_cell.folder / "right-routes.json",
                        proxy={"ca_file": str(https_cell.ca)}) as router:
        client = WebClient(token=made["token"], base_url=router.api)
        assert client.auth_test()["team_id"] == made["workspace"]["id"]
        posted = client.chat_postMessage(channel=made["general"], text="over https")
        history = client.conversations_history(channel=made["general"])
        assert [m["ts"] for m in history["messages"] if m.get("text") == "over https"] == [posted["ts"]]


def test_a_wrong_ca_is_refused_with_502_and_writes_nothing(https_cell: HttpsCell) -> None:
    made = https_cell.workspace
    before = _messages(https_cell.cell)
    with running_router(https_cell.control_plane.url, https_cell.folder / "wrong-routes.json",
                        proxy={"ca_file": str(https_cell.other_ca)}) as router:
        client = WebClient(token=made["token"], base_url=router.api)
        with pytest.raises(SlackApiError) as refused:
            client.chat_postMessage(channel=made["general"], text="must not land")
        assert refused.value.response.status_code == 502
        assert refused.value.response.data == {"ok": False, "error": "cell_unavailable", "cell": "us-1"}
    assert _messages(https_cell.cell) == before


def test_a_missing_or_unusable_ca_file_stops_start_up(tmp_path: Path) -> None:
    """``python -m router.server`` exits non-zero with the reason, before it listens."""
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(SettingsError, match="no usable PEM certificate"):
        uvicorn_config(RouterSettings.model_validate({"state_file": tmp_path / "r.json", "control_plane_token": VIEWER,
                                                     "proxy": {"ca_file": junk}}))
    env = {**os.environ, "CELLCHAT_ROUTER_STATE_FILE": str(tmp_path / "routes.json"),
           "CELLCHAT_ROUTER_PORT": "0", "CELLCHAT_ROUTER_CONTROL_PLANE_TOKEN": VIEWER,
           "CELLCHAT_ROUTER_PROXY__CA_FILE": str(tmp_path / "absent.pem")}
    started = subprocess.run([sys.executable, "-m", "router.server"], env=env, capture_output=True, text=True,
                             timeout=60)
    assert started.returncode == 1
    assert f"proxy.ca_file: the CA file {tmp_path / 'absent.pem'} does not exist" in started.stderr
