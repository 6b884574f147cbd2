"""The Helm charts render, lint and validate, and what they render starts our processes.

Each chart is rendered once per documented variant (module scope) through Helm's own SDK,
linted strictly, validated with ``kubernetes-validate --strict`` for every Kubernetes version we
support, and each container's rendered environment is fed to the project's settings classes.
"""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support import charts
from tests.support.charts import CHARTS, KUBE_VERSIONS, Rendered

PRODUCTION_CELL: dict[str, Any] = {
    "cell": {"name": "eu-2", "region": "eu"},
    "secrets": {"existingSecret": "cell-eu-2-stores"},
    "roles": {
        "api": {"replicas": 3, "autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 12}},
        "gateway": {"replicas": 3},
    },
    "ingress": {"gateway": {"enabled": True, "className": "nginx", "host": "eu-2.chat.example.com",
                            "tls": [{"secretName": "eu-2-tls", "hosts": ["eu-2.chat.example.com"]}]}},
    "monitoring": {"dashboards": {"enabled": True}, "alertRules": {"enabled": True}},
    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                   "whenUnsatisfiable": "ScheduleAnyway",
                                   "labelSelector": {"matchLabels": {"cellchat.io/cell": "eu-2"}}}],
}

# (chart, variant): values. Every variant documented in charts/README.md is here.
VARIANTS: dict[tuple[str, str], dict[str, Any]] = {
    ("cell", "default"): {},
    ("cell", "production"): PRODUCTION_CELL,
    ("cell", "combined"): {"combined": True, "roles": {"api": {"replicas": 1}},
                           "storage": {"backend": "local", "local": {"existingClaim": "cell-files"}}},
    ("cell", "inline-secrets"): {"secrets": {"create": True, "values": {
        "databaseDsn": "postgresql://cellchat:pw@pg:5432/cellchat", "redisUrl": "redis://redis:6379/0",
        "adminToken": "dev-cluster-admin-token"}}, "cell": {"name": "dev-1", "region": "dev", "maxBodyBytes": 4194304}},
    ("cell", "tls"): {"storage": {"encryption": {"masterKeyId": "k1"}},
                      "tls": {"server": {"enabled": True, "secretName": "cell-us-1-tls"},
                              "database": {"enabled": True, "caSecret": "postgres-ca"},
                              "redis": {"caSecret": "redis-ca"}}},
    ("router", "default"): {},
    ("router", "production"): {"ingress": {"enabled": True, "className": "nginx", "host": "chat.example.com"},
                               "autoscaling": {"enabled": True}, "stateVolume": {"existingClaim": "router-state"},
                               "monitoring": {"dashboards": {"enabled": True}, "alertRules": {"enabled": True}}},
    ("router", "inline-secrets"): {"secrets": {"create": True, "values": {"controlPlaneToken": "viewer-token"}}},
    ("router", "tls"): {"tls": {"caSecret": "cells-ca"}},
    ("control-plane", "default"): {},
    ("control-plane", "kubernetes"): {"provisioning": {"kubernetes": {"enabled": True}},
                                      "ingress": {"enabled": True, "host": "control.chat.example.com"},
                                      "monitoring": {"dashboards": {"enabled": True}, "alertRules": {"enabled": True}}},
    ("control-plane", "inline-secrets"): {"secrets": {"create": True, "values": {
        "databaseDsn": "postgresql://cp@pg/catalog", "tokens": "[]", "cellAdminToken": "x"}}},
    ("control-plane", "tls"): {"tls": {"caSecret": "cells-ca"}},
}
IDS = [f"{chart}-{variant}" for chart, variant in VARIANTS]


@pytest.fixture(scope="module")
def rendered() -> dict[tuple[str, str], Rendered]:
    return {key: charts.render(key[0], values) for key, values in VARIANTS.items()}


@pytest.mark.parametrize("key", VARIANTS, ids=IDS)
def test_chart_lints_clean(key: tuple[str, str]) -> None:
    """``helm lint --strict`` (Helm's SDK) finds nothing at warning level or above."""
    assert charts.lint(key[0], VARIANTS[key]) == []


@pytest.mark.parametrize("key", VARIANTS, ids=IDS)
def test_every_manifest_passes_kubernetes_validate_strict(
        rendered: dict[tuple[str, str], Rendered], key: tuple[str, str]) -> None:
    """Every rendered object is valid, with no unknown fields, for every supported version."""
    failures = []
    for version in KUBE_VERSIONS:
        for doc in rendered[key].documents:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                failures.append(f"{version} {doc['kind']}/{doc['metadata']['name']}: {error.message}")
    assert failures == []


@pytest.mark.parametrize("key", VARIANTS, ids=IDS)
def test_each_container_env_parses_in_our_settings(
        rendered: dict[tuple[str, str], Rendered], key: tuple[str, str]) -> None:
    """Each container's environment parses in its settings class, and names only known fields."""
    seen = 0
    for deployment in rendered[key].of_kind("Deployment"):
        for container in charts.containers(deployment):
            settings_class, prefix = charts.SETTINGS_BY_MODULE[charts.module_of(container)]
            env = charts.container_env(rendered[key], container)
            assert charts.unknown_variables(settings_class, prefix, env) == []
            with charts.only_env(env):
                settings_class()
            seen += 1
    assert seen >= 1


def test_whole_numbers_reach_the_cell_as_integers(rendered: dict[tuple[str, str], Rendered]) -> None:
    """A million-byte body limit reaches the cell as 1048576, not "1.048576e+06" (the old bug)."""
    from cell.settings import CellSettings
    from router.settings import RouterSettings

    cell = rendered[("cell", "inline-secrets")]
    api = cell.named("Deployment", "cell-dev-1-api")
    with charts.only_env(charts.container_env(cell, charts.containers(api)[-1])):
        assert CellSettings().api.max_body_bytes == 4_194_304
    router = rendered[("router", "default")]
    (deployment,) = router.of_kind("Deployment")
    with charts.only_env(charts.container_env(router, charts.containers(deployment)[0])):
        assert RouterSettings().proxy.max_body_bytes == 2_097_152


@pytest.mark.parametrize("chart", ["cell", "router", "control-plane"])
def test_no_secret_is_rendered_from_plain_values_by_default(
        rendered: dict[tuple[str, str], Rendered], chart: str) -> None:
    """By default the chart makes no Secret: the pods read a Secret the operator made."""
    assert rendered[(chart, "default")].of_kind("Secret") == []
    assert len(rendered[(chart, "inline-secrets")].of_kind("Secret")) == 1


def test_every_pod_runs_locked_down_with_probes(rendered: dict[tuple[str, str], Rendered]) -> None:
    """Every container of every variant: non-root, read-only root, no privilege escalation,
    all capabilities dropped, and a liveness, readiness and startup probe on the main one."""
    problems = []
    for key, result in rendered.items():
        for deployment in result.of_kind("Deployment"):
            pod = deployment["spec"]["template"]["spec"]
            name = f"{key}: {deployment['metadata']['name']}"
            if not pod["securityContext"].get("runAsNonRoot"):
                problems.append(f"{name} may run as root")
            for container in charts.containers(deployment):
                context = container["securityContext"]
                if not (context["readOnlyRootFilesystem"] and context["allowPrivilegeEscalation"] is False
                        and context["capabilities"]["drop"] == ["ALL"]):
                    problems.append(f"{name}/{container['name']} is not locked down")
            main = pod["containers"][0]
            for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz"), ("startupProbe", "/livez")):
                if main.get(probe, {}).get("httpGet", {}).get("path") != path:
                    problems.append(f"{name} has no {probe} on {path}")
    assert problems == []


def test_production_cell_shape(rendered: dict[tuple[str, str], Rendered]) -> None:
    """3 api (autoscaled from 3), 3 gateway, 1 relay, 1 worker; PDBs for api and gateway; an Ingress for
    /rtm whose wss URL is what rtm.connect hands out; the stores' Secret is the operator's."""
    cell = rendered[("cell", "production")]
    deployments = {d["metadata"]["name"]: d for d in cell.of_kind("Deployment")}
    assert sorted(deployments) == ["cell-eu-2-api", "cell-eu-2-gateway", "cell-eu-2-relay", "cell-eu-2-worker"]
    assert "replicas" not in deployments["cell-eu-2-api"]["spec"]  # the HPA owns it
    assert cell.named("HorizontalPodAutoscaler", "cell-eu-2-api")["spec"]["minReplicas"] == 3
    assert deployments["cell-eu-2-gateway"]["spec"]["replicas"] == 3
    assert deployments["cell-eu-2-relay"]["spec"]["replicas"] == 1
    assert sorted(p["metadata"]["name"] for p in cell.of_kind("PodDisruptionBudget")) == [
        "cell-eu-2-api", "cell-eu-2-gateway"]
    (ingress,) = cell.of_kind("Ingress")
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/rtm"
    assert cell.named("ConfigMap", "cell-eu-2")["data"]["CELLCHAT_GATEWAY_URL"] == "wss://eu-2.chat.example.com/rtm"
    refs = {e["valueFrom"]["secretKeyRef"]["name"]
            for e in charts.containers(deployments["cell-eu-2-api"])[-1]["env"] if "valueFrom" in e}
    assert refs == {"cell-eu-2-stores"}
    assert cell.named("ConfigMap", "cell-eu-2")["data"]["CELLCHAT_STORAGE__BACKEND"] == "s3"


@pytest.mark.parametrize("chart", ["cell", "router", "control-plane"])
def test_dashboards_and_alert_rules_ship_with_the_chart(
        rendered: dict[tuple[str, str], Rendered], chart: str) -> None:
    """The Grafana dashboard is JSON with panels, the alert rules are Prometheus rule groups,
    and both are rendered into ConfigMaps when monitoring is enabled."""
    variant = "kubernetes" if chart == "control-plane" else "production"
    maps = {m["metadata"]["name"]: m for m in rendered[(chart, variant)].of_kind("ConfigMap")}
    dashboards = [m for name, m in maps.items() if name.endswith("-dashboards")]
    alerts = [m for name, m in maps.items() if name.endswith("-alerts")]
    assert len(dashboards) == 1 and len(alerts) == 1
    for text in dashboards[0]["data"].values():
        assert json.loads(text)["panels"]
    for text in alerts[0]["data"].values():
        rules = [rule for group in yaml.safe_load(text)["groups"] for rule in group["rules"]]
        assert rules and all({"alert", "expr", "labels", "annotations"} <= set(rule) for rule in rules)
    assert sorted(p.name for p in (CHARTS / chart / "dashboards").iterdir())


def test_tls_values_encrypt_every_hop_that_leaves_the_pod(rendered: dict[tuple[str, str], Rendered]) -> None:
    """tls.* (and storage.encryption, files at rest): the cell serves HTTPS with its certificate (probes too), verifies PostgreSQL with
    sslmode=verify-full against the mounted CA and Redis against its CA; the router and the
    control plane verify the cells against theirs. Without tls.* nothing of it is rendered."""
    from cell.settings import CellSettings

    cell = rendered[("cell", "tls")]
    for deployment in cell.of_kind("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        assert volumes == {"tls-server": "cell-us-1-tls", "tls-database": "postgres-ca", "tls-redis": "redis-ca"}
        for container in charts.containers(deployment):
            env = charts.container_env(cell, container)
            assert env["PGSSLMODE"] == "verify-full"
            assert env["PGSSLROOTCERT"] == "/etc/cellchat/tls/database/ca.crt"
            assert env["SSL_CERT_FILE"] == "/etc/cellchat/tls/redis/ca.crt"
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert {"/etc/cellchat/tls/server", "/etc/cellchat/tls/database", "/etc/cellchat/tls/redis"} <= mounts
            with charts.only_env(env):
                settings = CellSettings()
            assert (str(settings.api.tls_cert_file), str(settings.api.tls_key_file)) == (
                "/etc/cellchat/tls/server/tls.crt", "/etc/cellchat/tls/server/tls.key")
            assert settings.storage.master_key_id == "k1" and set(settings.storage.master_keys) == {"k1"}
        main = pod["containers"][0]
        assert {main[p]["httpGet"]["scheme"] for p in ("livenessProbe", "readinessProbe", "startupProbe")} == {"HTTPS"}
    plain = rendered[("cell", "default")].of_kind("Deployment")[0]
    env = charts.container_env(rendered[("cell", "default")], charts.containers(plain)[-1])
    assert not {"PGSSLMODE", "SSL_CERT_FILE", "CELLCHAT_API__TLS_CERT_FILE", "CELLCHAT_STORAGE__MASTER_KEYS"} & set(env)
    for chart in ("router", "control-plane"):
        (deployment,) = rendered[(chart, "tls")].of_kind("Deployment")
        env = charts.container_env(rendered[(chart, "tls")], charts.containers(deployment)[0])
        assert env["SSL_CERT_FILE"] == "/etc/cellchat/tls/ca/ca.crt"
        if chart == "router":  # the cells are verified against this CA only (router.settings.ProxySettings.ca_file)
            assert env["CELLCHAT_ROUTER_PROXY__CA_FILE"] == "/etc/cellchat/tls/ca/ca.crt"
        assert {"name": "tls-ca", "secret": {"secretName": "cells-ca"}} in deployment["spec"]["template"]["spec"]["volumes"]
