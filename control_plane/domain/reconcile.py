"""``cells apply``: the difference between the catalog and a ``cells.yaml``, like ``kubectl apply``. Pure.

A declared cell that the catalog lacks is created (``provisioning``: it becomes
``active`` only once provisioned and healthy); a changed one is updated; a cell
the file no longer declares is drained (no new workspaces). A cell's region and
backend never change: that would move data, which is a migration, not an edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from control_plane.inventory import CellSpec, Inventory

LIVE = ("provisioning", "active")


@dataclass(frozen=True, slots=True)
class Current:
    name: str
    region: str
    status: str
    backend: str
    spec: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # "create" | "update" | "drain" | "unchanged"
    name: str
    spec: dict[str, Any] | None = None  # the declared spec (create, update, unchanged)
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # what changes: old, new

    def describe(self) -> str:
        if self.kind == "create":
            spec = self.spec or {}
            where = "local" if "local" in spec else spec.get("endpoints", {}).get("api", "?")
            return (f"+ cell {self.name}: region {spec.get('region')}, capacity "
                    f"{spec.get('capacity', {}).get('workspaces')} workspaces, {where}")
        if self.kind == "update":
            parts = ", ".join(f"{k} {_short(old)} -> {_short(new)}" for k, (old, new) in self.fields.items())
            return f"~ cell {self.name}: {parts}"
        if self.kind == "drain":
            return f"- cell {self.name}: no longer declared: {self.fields['status'][0]} -> draining"
        return f"= cell {self.name}: unchanged"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "cell": self.name, "description": self.describe(),
                "changes": {k: {"from": old, "to": new} for k, (old, new) in self.fields.items()}}


class ApplyRefused(Exception):
    """The file asks for something ``apply`` must not do; ``index`` is the offending cell's position."""

    def __init__(self, index: int, key: str, message: str) -> None:
        super().__init__(message)
        self.index, self.key, self.message = index, key, message


def _short(value: Any) -> str:
    return "-" if value is None else str(value)


def _flat(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "capacity": spec.get("capacity", {}).get("workspaces"),
        "api_port": (spec.get("local") or {}).get("api_port"),
        "endpoints.api": (spec.get("endpoints") or {}).get("api"),
        "endpoints.gateway": (spec.get("endpoints") or {}).get("gateway"),
        "endpoints.database": (spec.get("endpoints") or {}).get("database"),
    }


def spec_json(spec: CellSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude_none=True)


def plan(current: list[Current], desired: Inventory) -> list[Change]:
    """The changes that make the catalog match ``desired``, in file order, then drains by name."""
    by_name = {c.name: c for c in current}
    changes: list[Change] = []
    for index, spec in enumerate(desired.cells):
        wanted = spec_json(spec)
        have = by_name.get(spec.name)
        if have is None:
            changes.append(Change("create", spec.name, wanted))
            continue
        if have.status == "retired":
            raise ApplyRefused(index, "name", f"cell {spec.name} is retired; cell names are never reused")
        if have.region != spec.region:
            raise ApplyRefused(index, "region", f"cell {spec.name} is in region {have.region}; a cell's region "
                               "never changes (declare a new cell and move workspaces instead)")
        if have.backend != spec.backend:
            raise ApplyRefused(index, spec.backend, f"cell {spec.name} is a {have.backend} cell; its backend "
                               "never changes")
        old, new = _flat(have.spec), _flat(wanted)
        fields = {k: (old[k], new[k]) for k in new if old[k] != new[k]}
        changes.append(Change("update" if fields else "unchanged", spec.name, wanted, fields))
    declared = {spec.name for spec in desired.cells}
    for have in sorted(current, key=lambda c: c.name):
        if have.name not in declared and have.status in LIVE:
            changes.append(Change("drain", have.name, None, {"status": (have.status, "draining")}))
    return changes
