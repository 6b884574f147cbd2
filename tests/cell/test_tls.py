"""The cell serves HTTPS when given a certificate (api.tls_cert_file / tls_key_file): slack_sdk
talks to it verifying the certificate against its CA, and a client that does not trust the CA is
refused at the handshake."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
from slack_sdk import WebClient

from tests.support.cells import ADMIN_TOKEN, PASSWORD, running_cell
from tests.support.infra import Infra
from tests.support.tls import certificates


def test_the_cell_serves_https_that_clients_verify(infra: Infra, tmp_path: Path) -> None:
    """With a certificate the cell answers only TLS; verified clients work, others are refused."""
    ca, cert, key = certificates(tmp_path)
    with running_cell(infra, api={"port": 0, "tls_cert_file": str(cert), "tls_key_file": str(key)}) as cell:
        https = cell.url.replace("http://", "https://")
        trusting = ssl.create_default_context(cafile=str(ca))
        made = httpx.post(f"{https}/v1/workspaces", verify=trusting, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                          json={"name": "tls", "owner": {"email": "o@tls.example.com", "name": "o",
                                                         "password": PASSWORD}}).json()
        assert made["ok"], made
        client = WebClient(token=made["token"], base_url=f"{https}/api/", ssl=trusting)
        assert client.auth_test()["team_id"] == made["workspace"]["id"]
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{https}/v1/health")  # the system's CAs do not know this one
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{cell.url}/v1/health")  # plain HTTP is not served
