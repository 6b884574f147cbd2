"""The ``kubernetes`` backend: a cell is a Helm release of ``charts/cell``, through Helm's own SDK.

``provision`` installs the release ``cell-<name>`` in the namespace ``<prefix><name>`` (made if
missing), or upgrades it when it is already there — so a provisioning interrupted at any point
runs again to the same end — with the values from ``cells.yaml`` (``kubernetes.values``) under
``cell.name`` and ``cell.region`` from the cell itself. Helm waits until every object of the
release is ready (Deployments rolled out), then the cell's own ``/v1/health`` must answer ready
from its region; only then are its endpoints returned, and the control plane marks it active.
``remove`` uninstalls the release (decommission), leaving the namespace and the operator's Secret.

Helm's SDK is a C library (``helm-python-sdk``) whose calls block: they run in a worker thread.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from control_plane.inventory import CellSpec
from control_plane.provisioning import Endpoints, Progress, ProvisioningFailed
from control_plane.provisioning.health import wait_ready
from control_plane.settings import KubernetesProvisioningSettings

if TYPE_CHECKING:
    import helm_python


def _helm() -> Any:
    """Helm's SDK, imported on first use: it is the ``kubernetes`` extra (a large native library)."""
    try:
        import helm_python
    except ImportError as exc:
        raise ProvisioningFailed("the kubernetes backend needs Helm's SDK: pip install 'cellchat[kubernetes]'") from exc
    return helm_python


def release_name(cell: str) -> str:
    return f"cell-{cell}"


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class KubernetesBackend:
    kind = "kubernetes"

    def __init__(self, settings: KubernetesProvisioningSettings,
                 config: Callable[[str], helm_python.Config] | None = None) -> None:
        self.settings = settings
        self._config = config or self._default_config

    def _default_config(self, namespace: str) -> helm_python.Config:
        s = self.settings
        return _helm().Config(namespace=namespace, kubeconfig_path=s.kubeconfig, kube_context=s.context,
                           kube_apiserver=s.apiserver)

    def namespace(self, spec: CellSpec) -> str:
        assert spec.kubernetes is not None
        return spec.kubernetes.namespace or f"{self.settings.namespace_prefix}{spec.name}"

    def values(self, spec: CellSpec) -> dict[str, Any]:
        """The release's user-supplied values: the inventory's, with the cell's name and region."""
        assert spec.kubernetes is not None
        own: dict[str, Any] = {"cell": {"name": spec.name, "region": spec.region}}
        if spec.kubernetes.gateway:
            own["cell"]["gatewayUrl"] = spec.kubernetes.gateway
        return _deep_merge(spec.kubernetes.values, own)

    def endpoints(self, spec: CellSpec, computed: dict[str, Any]) -> Endpoints:
        """Where the control plane reaches the cell's API, and the gateway URL clients get."""
        cell = computed["cell"]
        gateway = cell.get("gatewayUrl") or ""
        ingress = computed.get("ingress", {}).get("gateway", {})
        if not gateway and ingress.get("enabled"):
            gateway = f"{'wss' if ingress.get('tls') else 'ws'}://{ingress['host']}{ingress['path']}"
        if not gateway:
            raise ProvisioningFailed(
                f"cell {spec.name} has no public gateway URL: set kubernetes.gateway in cells.yaml, "
                "or kubernetes.values.ingress.gateway (enabled, host)")
        api = self.settings.api_url.format(release=release_name(spec.name), name=spec.name,
                                           namespace=self.namespace(spec), port=computed["service"]["port"])
        return Endpoints(api=api, gateway=gateway)

    def render(self, spec: CellSpec) -> dict[str, str]:
        """What the release would apply (Helm's offline render): template path -> manifest."""
        with _helm().Chart.load(self.settings.chart) as chart:
            return chart.render(self.values(spec), name=release_name(spec.name),
                                namespace=self.namespace(spec), is_install=True)

    def _apply(self, spec: CellSpec) -> tuple[dict[str, Any], dict[str, Any]]:
        """Install or upgrade the release and wait for it; (release summary, computed values)."""
        namespace, name, values = self.namespace(spec), release_name(spec.name), self.values(spec)
        timeout = int(self.settings.ready_timeout)
        helm = _helm()
        with helm.Chart.load(self.settings.chart) as chart, self._config(namespace) as config:
            chart.validate_schema(values)
            computed = chart.merge_values(values)
            try:
                config.status(name)
            except helm.HelmNotFoundError:
                release = config.install(chart, name, values, namespace=namespace, create_namespace=True,
                                         wait="watcher", timeout=timeout, rollback_on_failure=True,
                                         description="cellctl cells provision", labels={"cellchat.io/cell": spec.name})
            else:
                release = config.upgrade(chart, name, values, namespace=namespace, wait="watcher",
                                         timeout=timeout, rollback_on_failure=True, reset_values=True,
                                         description="cellctl cells provision")
        return release, computed

    async def provision(self, spec: CellSpec, previous: dict[str, Any] | None, progress: Progress) -> Endpoints:
        assert spec.kubernetes is not None
        plan: dict[str, Any] = {"namespace": self.namespace(spec), "release": release_name(spec.name)}
        await progress("planned", plan)
        helm = _helm()
        try:
            release, computed = await anyio.to_thread.run_sync(self._apply, spec)
        except helm.HelmValuesError as exc:
            raise ProvisioningFailed(f"cells.yaml kubernetes.values of {spec.name} do not fit the cell chart: "
                                     f"{exc.detail}") from exc
        except helm.HelmError as exc:
            raise ProvisioningFailed(f"helm release {plan['release']} in {plan['namespace']}: "
                                     f"{exc.__class__.__name__.removeprefix('Helm')}: {exc.detail}") from exc
        endpoints = self.endpoints(spec, computed)
        plan.update(revision=release.get("revision"), status=release.get("status"), api=endpoints.api)
        await progress("started", plan)
        await wait_ready(endpoints.api, spec.region, within=self.settings.ready_timeout)
        await progress("healthy", plan)
        return endpoints

    def _uninstall(self, spec: CellSpec) -> dict[str, Any]:
        with self._config(self.namespace(spec)) as config:
            return config.uninstall(release_name(spec.name), ignore_not_found=True, wait="watcher",
                                    timeout=int(self.settings.ready_timeout),
                                    description="cellctl cells decommission")

    async def remove(self, spec: CellSpec) -> None:
        """Uninstall the cell's release (nothing happens when there is none)."""
        helm = _helm()
        try:
            await anyio.to_thread.run_sync(self._uninstall, spec)
        except helm.HelmError as exc:
            raise ProvisioningFailed(f"helm uninstall {release_name(spec.name)}: {exc.detail}") from exc
