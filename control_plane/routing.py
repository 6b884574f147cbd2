"""The routing table: its wire format and its pure lookup. Owned by the control plane, read by the router.

A table maps ``workspace_id -> cell`` and ``cell -> endpoints``, at a version.
Versions only move forward: the control plane numbers every change without
gaps, so a copy at version N that applies changes N+1, N+2... stays exact, and
one that sees a gap knows it must fetch a fresh snapshot.

Wire forms (JSON):

    snapshot  {"version": 7, "cells": [{"name", "region", "status", "api", "gateway"}], "routes": {"T…": "us-1"}}
    change    {"version": 8, "kind": "route", "key": "T…", "value": {"cell": "eu-1"}}
              {"version": 9, "kind": "cell", "key": "eu-1", "value": {"region", "status", "api", "gateway"}}
              (value null: the route or cell is gone)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class CellRoute:
    name: str
    region: str
    status: str
    api: str
    gateway: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "region": self.region, "status": self.status, "api": self.api,
                "gateway": self.gateway}

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> CellRoute:
        return cls(name, str(data["region"]), str(data["status"]), str(data["api"]), str(data["gateway"]))


@dataclass(frozen=True, slots=True)
class Change:
    version: int
    kind: str  # "route" | "cell"
    key: str
    value: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "kind": self.kind, "key": self.key, "value": self.value}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        return cls(int(data["version"]), str(data["kind"]), str(data["key"]), data.get("value"))


class VersionGap(Exception):
    """A change does not follow the table's version: the copy must be replaced by a snapshot."""


@dataclass
class RoutingTable:
    version: int = 0
    cells: dict[str, CellRoute] = field(default_factory=dict)
    routes: dict[str, str] = field(default_factory=dict)

    def lookup(self, workspace_id: str) -> CellRoute | None:
        """The cell serving ``workspace_id``, or None when the table does not know it."""
        cell = self.routes.get(workspace_id)
        return self.cells.get(cell) if cell is not None else None

    def apply(self, changes: Iterable[Change]) -> int:
        """Apply changes newer than the table, in order; returns how many applied. ``VersionGap`` on a hole."""
        applied = 0
        for change in changes:
            if change.version <= self.version:
                continue
            if change.version != self.version + 1:
                raise VersionGap(f"table at {self.version}, next change is {change.version}")
            if change.kind == "route":
                if change.value is None:
                    self.routes.pop(change.key, None)
                else:
                    self.routes[change.key] = str(change.value["cell"])
            elif change.kind == "cell":
                if change.value is None:
                    self.cells.pop(change.key, None)
                else:
                    self.cells[change.key] = CellRoute.from_json(change.key, change.value)
            self.version = change.version
            applied += 1
        return applied

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "cells": [c.to_json() for c in self.cells.values()],
                "routes": dict(self.routes)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RoutingTable:
        cells = {str(c["name"]): CellRoute.from_json(str(c["name"]), c) for c in data.get("cells", [])}
        routes = {str(k): str(v) for k, v in dict(data.get("routes", {})).items()}
        return cls(int(data.get("version", 0)), cells, routes)
