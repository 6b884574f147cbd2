"""The cell serves HTTPS when given a certificate (api.tls_cert_file / tls_key_file): slack_sdk
talks to it verifying the certificate against its CA, and a client that does not trust the CA is
refused at the handshake."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from slack_sdk import WebClient

from tests.support.cells import ADMIN_TOKEN, PASSWORD, running_cell
from tests.support.infra import Infra


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for 127.0.0.1 signed by it: ``(ca, cert, key)`` files."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cellchat test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cell")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.crt", folder / "tls.crt", folder / "tls.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def test_the_cell_serves_https_that_clients_verify(infra: Infra, tmp_path: Path) -> None:
    """With a certificate the cell answers only TLS; verified clients work, others are refused."""
    ca, cert, key = _certificates(tmp_path)
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
