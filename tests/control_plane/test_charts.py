"""The Helm charts: every value a template reads exists, and every CELLCHAT_* variable they set is a real
setting of the process they run (no helm binary here, so this is what can be checked without one)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from cell.settings import CellSettings
from control_plane.settings import ControlPlaneSettings
from router.settings import RouterSettings

CHARTS = Path(__file__).resolve().parents[2] / "charts"
SETTINGS: dict[str, tuple[str, type[BaseModel]]] = {
    "cell": ("CELLCHAT_", CellSettings),
    "control-plane": ("CELLCHAT_CP_", ControlPlaneSettings),
    "router": ("CELLCHAT_ROUTER_", RouterSettings),
}


def templates(chart: str) -> str:
    return "\n".join(p.read_text() for p in sorted((CHARTS / chart / "templates").iterdir()))


def is_setting(model: type[BaseModel], path: list[str]) -> bool:
    field = model.model_fields.get(path[0])
    if field is None:
        return False
    if len(path) == 1:
        return True
    nested = field.annotation
    return isinstance(nested, type) and issubclass(nested, BaseModel) and is_setting(nested, path[1:])


@pytest.mark.parametrize("chart", sorted(SETTINGS))
def test_values_read_by_templates_exist(chart: str) -> None:
    """Each .Values.a.b used in a template is defined in the chart's values.yaml."""
    values: dict[str, Any] = yaml.safe_load((CHARTS / chart / "values.yaml").read_text())
    missing = []
    for path in sorted(set(re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", templates(chart)))):
        node: Any = values
        for key in path.strip(".").split("."):
            if not isinstance(node, dict) or key not in node:
                missing.append(path)
                break
            node = node[key]
    assert [] == missing


@pytest.mark.parametrize("chart", sorted(SETTINGS))
def test_environment_names_are_settings(chart: str) -> None:
    """Each CELLCHAT_* variable a chart sets maps to a field of the process's settings."""
    prefix, model = SETTINGS[chart]
    names = sorted(set(re.findall(r"\b(CELLCHAT_[A-Z0-9_]+)\b", templates(chart))))
    unknown = [n for n in names if not is_setting(model, n.removeprefix(prefix).lower().split("__"))]
    assert ([], True) == (unknown, len(names) > 3)


@pytest.mark.parametrize("chart", sorted(SETTINGS))
def test_commands_are_real_modules(chart: str) -> None:
    """The python -m modules the charts run exist."""
    modules = set(re.findall(r'"-m", "([a-z_.]+)"', templates(chart)))
    assert (True, []) == (bool(modules), [m for m in sorted(modules) if importlib.util.find_spec(m) is None])
