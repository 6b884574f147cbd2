"""Rendering the Helm charts offline through Helm's own SDK, and reading what they render."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import helm_python as helm
import yaml
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from cell.settings import CellSettings
from control_plane.settings import ControlPlaneSettings
from router.settings import RouterSettings

CHARTS = Path(__file__).resolve().parents[2] / "charts"
KUBE_VERSIONS = ("1.32.0", "1.35.0", "1.37.0")  # the oldest and newest we support, and one between

# Which settings class reads a container's environment, by the module it runs.
SETTINGS_BY_MODULE: dict[str, tuple[type[BaseSettings], str]] = {
    "cell.server": (CellSettings, "CELLCHAT_"),
    "cell.store.migrate": (CellSettings, "CELLCHAT_"),
    "router.server": (RouterSettings, "CELLCHAT_ROUTER_"),
    "control_plane.server": (ControlPlaneSettings, "CELLCHAT_CP_"),
}

# What an operator's own Secret would hold, for the env of containers whose Secret the chart
# does not make (the default): realistic values of the right shape.
OPERATOR_SECRET_VALUES = {
    "database-dsn": "postgresql://cellchat@pg.example.internal:5432/cellchat?sslmode=require",
    "redis-url": "rediss://redis.example.internal:6380/0",
    "admin-token": "operator-provided-cell-admin-token",
    "control-plane-token": "operator-provided-viewer-token",
    "tokens": '[{"name": "alice", "roles": ["sre"], "token": "operator-provided-sre-token"}]',
    "cell-admin-token": "operator-provided-cell-admin-token",
    "files-signing-key": "operator-provided-signing-key",
    "s3-access-key-id": "AKIAEXAMPLE",
    "s3-secret-access-key": "operator-provided-s3-secret",
    "files-master-keys": '{"k1": "b3BlcmF0b3ItcHJvdmlkZWQtbWFzdGVyLWtleSEhISE="}',
    "residency-signing-key": "b3BlcmF0b3ItcHJvdmlkZWQtZWQyNTUxOS1rZXkhISE=",  # 32 raw bytes, base64
}


@dataclass
class Rendered:
    chart: str
    values: dict[str, Any]
    documents: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.documents if doc["kind"] == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        (found,) = [doc for doc in self.of_kind(kind) if doc["metadata"]["name"] == name]
        return found


def render(chart: str, values: dict[str, Any], *, release: str = "r", namespace: str = "cellchat") -> Rendered:
    """The chart's manifests for ``values``, as Helm's SDK renders them for an install."""
    with helm.Chart.load(CHARTS / chart) as loaded:
        loaded.validate_schema(values)
        files = loaded.render(values, name=release, namespace=namespace, is_install=True)
    documents = [
        doc
        for name, text in sorted(files.items()) if name.endswith((".yaml", ".yml"))
        for doc in yaml.safe_load_all(text) if doc
    ]
    return Rendered(chart, values, documents)


def lint(chart: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Helm lint findings at warning level or above (strict, as ``helm lint --strict``)."""
    report = helm.lint(CHARTS / chart, values, strict=True)
    assert report["errors"] == [], report
    return [m for m in report["messages"] if m["severity"] >= 2]


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    pod = doc["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def module_of(container: dict[str, Any]) -> str:
    args = container["args"]
    return str(args[args.index("-m") + 1])


def container_env(rendered: Rendered, container: dict[str, Any]) -> dict[str, str]:
    """The environment a container starts with: its ConfigMaps, then its own env, Secrets resolved."""
    secrets = {doc["metadata"]["name"]: doc.get("stringData", {}) for doc in rendered.of_kind("Secret")}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        env.update(rendered.named("ConfigMap", name)["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        made = secrets.get(ref["name"])
        if made is not None and ref["key"] not in made and ref.get("optional"):
            continue  # an optional key the Secret does not have: the variable is not set
        env[item["name"]] = made[ref["key"]] if made is not None else OPERATOR_SECRET_VALUES[ref["key"]]
    return env


@contextmanager
def only_env(env: dict[str, str]) -> Iterator[None]:
    """The process environment is exactly ``env`` (as in a fresh container) inside the block."""
    with mock.patch.dict(os.environ, env, clear=True):
        yield


def unknown_variables(settings: type[BaseSettings], prefix: str, env: dict[str, str]) -> list[str]:
    """Variables under the settings' prefix that name no field (pydantic-settings ignores those)."""
    unknown = []
    for name in env:
        if not name.startswith(prefix):
            continue
        model: type[BaseModel] = settings
        parts = name[len(prefix):].lower().split("__")
        for depth, part in enumerate(parts):
            field = model.model_fields.get(part)
            if field is None:
                unknown.append(name)
                break
            annotation = field.annotation
            if depth < len(parts) - 1:
                if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                    if annotation is not None and getattr(annotation, "__origin__", None) is dict:
                        break  # a mapping: any key goes
                    unknown.append(name)
                    break
                model = annotation
    return unknown
