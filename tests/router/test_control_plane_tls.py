"""The router reads its routes from a control plane serving HTTPS with a private CA's certificate
when ``control_plane_ca_file`` names that CA; without it the handshake is refused; a CA file that
cannot be used stops start-up."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from control_plane.routing_client import RoutingClient, RoutingUnavailable
from router.settings import RouterSettings, SettingsError
from tests.support.control_plane import VIEWER, running_control_plane
from tests.support.infra import Infra
from tests.support.router import running_router
from tests.support.tls import certificates


@pytest.fixture(scope="module")
def https(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """``(https url, its CA, a folder)`` of a control plane with one workspace-less catalog."""
    folder = tmp_path_factory.mktemp("router-cp-tls")
    ca, cert, key = certificates(folder)
    with running_control_plane(infra, api={"tls_cert_file": str(cert), "tls_key_file": str(key)}) as cp:
        yield cp.url.replace("http://", "https://"), ca, folder


async def _snapshot_version(url: str, verify: object) -> int:
    async with httpx.AsyncClient(verify=verify) as http:  # type: ignore[arg-type]
        return (await RoutingClient(url, VIEWER, http).snapshot()).version


def test_the_routing_client_verifies_the_control_plane_with_the_ca(https: tuple[str, Path, Path]) -> None:
    """With the router's control_plane_tls() the snapshot is read; with httpx's default CAs it is refused."""
    url, ca, _ = https
    version = asyncio.run(_snapshot_version(url, RouterSettings(control_plane_ca_file=ca).control_plane_tls()))
    with pytest.raises(RoutingUnavailable, match="ConnectError"):
        asyncio.run(_snapshot_version(url, RouterSettings().control_plane_tls()))
    assert version >= 0


def test_a_router_syncs_from_an_https_control_plane(https: tuple[str, Path, Path]) -> None:
    """A router given control_plane_ca_file reports its control plane up."""
    url, ca, folder = https
    with running_router(url, folder / "routes.json", control_plane_ca_file=str(ca)) as router:
        for _ in range(500):
            if router.status()["control_plane"] == "up":
                break
            asyncio.run(asyncio.sleep(0.02))
        assert "up" == router.status()["control_plane"]


def test_an_unusable_control_plane_ca_file_stops_start_up(tmp_path: Path) -> None:
    """A missing or non-PEM control_plane_ca_file is a SettingsError naming the setting."""
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(SettingsError, match=f"control_plane_ca_file: the CA file {tmp_path / 'absent.pem'} does not"):
        RouterSettings(control_plane_ca_file=tmp_path / "absent.pem").control_plane_tls()
    with pytest.raises(SettingsError, match=r"control_plane_ca_file: .* holds no usable PEM certificate"):
        RouterSettings(control_plane_ca_file=junk).control_plane_tls()
