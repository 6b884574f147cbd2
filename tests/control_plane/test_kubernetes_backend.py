"""The ``kubernetes`` provisioning backend, through the real Helm SDK against a loopback API server.

No cluster runs here: ``tests.support.kubeapi`` answers what Helm's SDK asks (discovery, OpenAPI,
server-side apply, release records, list+watch for the readiness wait) with generated answers.
The cell behind the release is a real cell on a socket (its in-cluster Service URL is replaced by
``api_url``), so "active only once ready" is checked against a real health endpoint.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from control_plane.inventory import CellSpec
from control_plane.provisioning import ProvisioningFailed
from control_plane.provisioning.kubernetes import KubernetesBackend
from control_plane.settings import KubernetesProvisioningSettings
from tests.support import kubeapi
from tests.support.cells import RunningCell
from tests.support.charts import CHARTS

pytestmark = pytest.mark.anyio

VALUES = {"roles": {"api": {"replicas": 3}, "gateway": {"replicas": 3}},
          "secrets": {"existingSecret": "cell-k8s-1-stores"},
          "ingress": {"gateway": {"enabled": True, "host": "k8s-1.chat.example.com",
                                  "tls": [{"secretName": "k8s-1-tls", "hosts": ["k8s-1.chat.example.com"]}]}}}


def spec(**kubernetes: Any) -> CellSpec:
    return CellSpec.model_validate({"name": "k8s-1", "region": "test", "capacity": {"workspaces": 100},
                                    "kubernetes": {"values": VALUES, **kubernetes}})


@pytest.fixture
def kube() -> Iterator[kubeapi.FakeKube]:
    with kubeapi.running() as fake:
        yield fake


def backend(kube: kubeapi.FakeKube, cell_url: str, *, ready_timeout: float = 20.0) -> KubernetesBackend:
    return KubernetesBackend(KubernetesProvisioningSettings(
        chart=CHARTS / "cell", apiserver=kube.url, api_url=cell_url, ready_timeout=ready_timeout))


def release_record(kube: kubeapi.FakeKube, namespace: str) -> list[dict[str, Any]]:
    """Helm's stored releases (Secrets labelled owner=helm), decoded as Helm encodes them."""
    out = []
    for secret in kube.releases(namespace):
        blob = base64.b64decode(base64.b64decode(secret["data"]["release"]))
        out.append(json.loads(gzip.decompress(blob)))
    return sorted(out, key=lambda r: r["version"])


async def test_provision_installs_the_release_waits_and_returns_endpoints(
        kube: kubeapi.FakeKube, cell: RunningCell) -> None:
    """A first provision makes the namespace, applies exactly what the chart renders for the
    cell's values, records the release as deployed, and returns once the cell answers ready."""
    steps: list[tuple[str, dict[str, Any]]] = []

    async def progress(step: str, plan: dict[str, Any]) -> None:
        steps.append((step, dict(plan)))

    k8s = backend(kube, cell.url)
    endpoints = await k8s.provision(spec(), None, progress)

    assert (endpoints.api, endpoints.gateway) == (cell.url, "wss://k8s-1.chat.example.com/rtm")
    assert [s for s, _ in steps] == ["planned", "started", "healthy"]
    assert steps[-1][1] == {"namespace": "cellchat-k8s-1", "release": "cell-k8s-1", "revision": 1,
                            "status": "deployed", "api": cell.url}
    rendered = [doc for text in k8s.render(spec()).values() for doc in yaml.safe_load_all(text) if doc]
    expected = sorted([("Namespace", "cellchat-k8s-1")] + [(d["kind"], d["metadata"]["name"]) for d in rendered])
    assert kube.kinds() == expected
    api = kube.get("apps/v1", "cellchat-k8s-1", "deployments", "cell-k8s-1-api")
    assert api is not None and api["spec"]["replicas"] == 3
    (record,) = release_record(kube, "cellchat-k8s-1")
    assert (record["info"]["status"], record["config"]["cell"]) == ("deployed", {"name": "k8s-1", "region": "test"})
    applies = [r for r in kube.requests if r.method == "PATCH" and "apply-patch" in (r.content_type or "")]
    assert {r.query["fieldValidation"][0] for r in applies} == {"Strict"}


async def test_provision_again_upgrades_to_a_new_revision(kube: kubeapi.FakeKube, cell: RunningCell) -> None:
    """Provisioning a cell that already has a release (a resumed or repeated provision, or new
    values in cells.yaml) upgrades it in place: revision 2, with the new values applied."""
    async def progress(step: str, plan: dict[str, Any]) -> None:
        pass

    k8s = backend(kube, cell.url)
    await k8s.provision(spec(), None, progress)
    bigger = spec(values={**VALUES, "roles": {"api": {"replicas": 5}, "gateway": {"replicas": 3}}})
    await k8s.provision(bigger, None, progress)
    api = kube.get("apps/v1", "cellchat-k8s-1", "deployments", "cell-k8s-1-api")
    assert api is not None and api["spec"]["replicas"] == 5
    assert [(r["version"], r["info"]["status"]) for r in release_record(kube, "cellchat-k8s-1")] == [
        (1, "superseded"), (2, "deployed")]


async def test_a_rollout_that_never_becomes_ready_fails_provisioning(kube: kubeapi.FakeKube, cell: RunningCell) -> None:
    """Pods that never become ready: Helm's wait gives up, the release is rolled back (uninstalled),
    and provisioning fails with Helm's reason — the cell is not marked active."""
    kube.stall_rollouts = True

    async def progress(step: str, plan: dict[str, Any]) -> None:
        pass

    with pytest.raises(ProvisioningFailed) as failed:
        await backend(kube, cell.url, ready_timeout=2).provision(spec(), None, progress)
    assert "cell-k8s-1" in str(failed.value) and "not ready" in str(failed.value)


async def test_values_that_do_not_fit_the_chart_are_refused_before_anything_is_applied(
        kube: kubeapi.FakeKube, cell: RunningCell) -> None:
    """cells.yaml values are checked against values.schema.json first: nothing reaches the cluster."""
    async def progress(step: str, plan: dict[str, Any]) -> None:
        pass

    bad = spec(values={"roles": {"api": {"replicas": "three"}}})
    with pytest.raises(ProvisioningFailed) as failed:
        await backend(kube, cell.url).provision(bad, None, progress)
    assert "do not fit the cell chart" in str(failed.value)
    assert [r for r in kube.requests if r.method != "GET"] == []


async def test_an_unreachable_cluster_fails_with_the_reason() -> None:
    """No API server at the address: provisioning fails saying the cluster is unreachable."""
    async def progress(step: str, plan: dict[str, Any]) -> None:
        pass

    k8s = KubernetesBackend(KubernetesProvisioningSettings(chart=CHARTS / "cell", apiserver="http://127.0.0.1:9"))
    with pytest.raises(ProvisioningFailed) as failed:
        await k8s.provision(spec(), None, progress)
    assert "unreachable" in str(failed.value)


async def test_remove_uninstalls_the_release(kube: kubeapi.FakeKube, cell: RunningCell) -> None:
    """Decommission uninstalls the release: its objects and release records are gone; the
    namespace (and the operator's Secret in it) stays. A second remove is a no-op."""
    async def progress(step: str, plan: dict[str, Any]) -> None:
        pass

    k8s = backend(kube, cell.url)
    await k8s.provision(spec(), None, progress)
    await k8s.remove(spec())
    await k8s.remove(spec())
    assert (kube.kinds("cellchat-k8s-1"), release_record(kube, "cellchat-k8s-1")) == ([], [])
    assert kube.kinds() == [("Namespace", "cellchat-k8s-1")]


def test_no_gateway_url_is_refused() -> None:
    """A cell with neither kubernetes.gateway nor an enabled gateway Ingress cannot be provisioned:
    rtm.connect would have nothing to hand out."""
    k8s = KubernetesBackend(KubernetesProvisioningSettings(chart=CHARTS / "cell"))
    plain = CellSpec.model_validate({"name": "k8s-2", "region": "eu", "capacity": {"workspaces": 1},
                                     "kubernetes": {}})
    with pytest.raises(ProvisioningFailed, match="no public gateway URL"):
        k8s.endpoints(plain, {"cell": {}, "service": {"port": 8101}})



def test_inventory_declares_a_kubernetes_cell() -> None:
    """cells.yaml takes a `kubernetes:` cell (values, gateway, database) as a third kind."""
    from control_plane import inventory

    parsed = inventory.parse(
        "version: 1\ncells:\n  - name: eu-3\n    region: eu\n    capacity: {workspaces: 10}\n"
        "    kubernetes:\n      gateway: wss://eu-3.chat.example.com/rtm\n"
        "      database: postgresql://cellchat@pg-eu-3/cellchat\n      values: {roles: {api: {replicas: 3}}}\n")
    (cell,) = parsed.cells
    assert (cell.backend, cell.database) == ("kubernetes", "postgresql://cellchat@pg-eu-3/cellchat")
    with pytest.raises(inventory.InventoryError, match="exactly one of"):
        inventory.parse("version: 1\ncells:\n  - name: eu-3\n    region: eu\n    capacity: {workspaces: 10}\n"
                        "    local: {}\n    kubernetes: {}\n")
