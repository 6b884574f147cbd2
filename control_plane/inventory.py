"""The ``cells.yaml`` inventory: its model, and a parser whose errors name the key and the line.

The control plane owns this contract; ``cellctl`` parses the same way before it
sends a file, so a bad file is refused before anything changes.

    version: 1
    cells:
      - name: us-1
        region: us
        capacity: {workspaces: 1000}
        local: {api_port: 8101}          # provisioned on this machine
      - name: eu-2
        region: eu
        capacity: {workspaces: 5000}
        endpoints:                       # an existing cell, reached at these URLs
          api: https://eu-2.cells.example.com
          gateway: wss://eu-2.cells.example.com/rtm
      - name: eu-3
        region: eu
        capacity: {workspaces: 5000}
        kubernetes:                      # a Helm release of charts/cell, installed by the control plane
          gateway: wss://eu-3.chat.example.com/rtm
          database: postgresql://cellchat@pg-eu-3.example.internal/cellchat
          values: {roles: {api: {replicas: 3}, gateway: {replicas: 3}}}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"
REGION_PATTERN = r"^[a-z][a-z0-9-]{0,19}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Capacity(_Strict):
    workspaces: int = Field(ge=1, le=10_000_000)


class LocalSpec(_Strict):
    """A cell that the ``local`` backend runs on this machine. ``api_port`` is a preference."""

    api_port: int | None = Field(default=None, ge=1, le=65535)


class EndpointsSpec(_Strict):
    """An existing cell: where its Web API and its WebSocket gateway answer."""

    api: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    gateway: str = Field(pattern=r"^wss?://[^\s/]+(/[^\s]*)?$")
    database: str | None = Field(default=None, pattern=r"^postgres(ql)?://\S+$")
    """The cell database's DSN, for moving workspaces by logical replication (optional)."""


class KubernetesSpec(_Strict):
    """A cell that the ``kubernetes`` backend installs as a Helm release of the cell chart.

    ``values`` are the chart's values (``cell.name`` and ``cell.region`` come from the cell);
    ``gateway`` is the public WebSocket URL (default: from ``values.ingress.gateway``); ``database``
    the DSN the control plane and other cells' servers use for moves.
    """

    namespace: str | None = Field(default=None, pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    gateway: str | None = Field(default=None, pattern=r"^wss?://[^\s/]+(/[^\s]*)?$")
    database: str | None = Field(default=None, pattern=r"^postgres(ql)?://\S+$")
    values: dict[str, Any] = Field(default_factory=dict)


class CellSpec(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    region: str = Field(pattern=REGION_PATTERN)
    capacity: Capacity
    local: LocalSpec | None = None
    endpoints: EndpointsSpec | None = None
    kubernetes: KubernetesSpec | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> CellSpec:
        if [self.local, self.endpoints, self.kubernetes].count(None) != 2:
            raise ValueError("a cell has exactly one of `local`, `endpoints` or `kubernetes`")
        return self

    @property
    def backend(self) -> str:
        if self.local is not None:
            return "local"
        return "endpoints" if self.endpoints is not None else "kubernetes"

    @property
    def database(self) -> str | None:
        """The cell database's DSN for moves, when the inventory gives one."""
        kind = self.endpoints or self.kubernetes
        return kind.database if kind is not None else None


class Inventory(_Strict):
    version: Literal[1]
    cells: list[CellSpec]

    def cell(self, name: str) -> CellSpec | None:
        return next((c for c in self.cells if c.name == name), None)


class InventoryError(Exception):
    """A refused inventory. ``str()`` reads ``cells.yaml:7: cells[1].region: <problem>``."""

    def __init__(self, source: str, line: int | None, key: str | None, problem: str) -> None:
        super().__init__(source, line, key, problem)
        self.source, self.line, self.key, self.problem = source, line, key, problem

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.key}: {self.problem}" if self.key else f"{where}: {self.problem}"


Path_ = tuple[str | int, ...]


def _key_text(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class _Builder:
    """Turns a composed YAML node tree into plain data, remembering the line of every path."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[Path_, int] = {}
        self._scalars = SafeConstructor()

    def build(self, node: Node, path: Path_ = ()) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self._scalars.construct_object(key_node) if isinstance(key_node, ScalarNode) else None
                if not isinstance(key, str):
                    raise InventoryError(self.source, key_node.start_mark.line + 1, _key_text(path) or None,
                                         "mapping keys must be strings")
                if key in result:
                    raise InventoryError(self.source, key_node.start_mark.line + 1, _key_text((*path, key)),
                                         "duplicate key")
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                result[key] = self.build(value_node, (*path, key))
            return result
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self._scalars.construct_object(node)

    def line_of(self, path: Path_) -> int | None:
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.lines:
                return self.lines[path[:cut]]
        return None


def parse(text: str, source: str = "cells.yaml") -> Inventory:
    """The inventory in ``text``, or ``InventoryError`` naming the first bad key and its line."""
    return parse_located(text, source)[0]


def parse_located(text: str, source: str = "cells.yaml") -> tuple[Inventory, Callable[[Path_], int | None]]:
    """Like ``parse``, also returning the line of any key path (``("cells", 1, "region")``)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError as exc:  # PyYAML composes recursively: thousands of [ or { exhaust the stack
        raise InventoryError(source, None, None, "not valid YAML: nested too deeply") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise InventoryError(source, mark.line + 1 if mark else None, None,
                             f"not valid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise InventoryError(source, None, None, f"not valid YAML: {exc}") from exc
    if root is None:
        raise InventoryError(source, 1, None, "the file is empty")
    builder = _Builder(source)
    try:
        data = builder.build(root)
    except RecursionError as exc:
        raise InventoryError(source, None, None, "not valid YAML: nested too deeply") from exc
    if not isinstance(data, dict):
        raise InventoryError(source, root.start_mark.line + 1, None, "expected a mapping with `version` and `cells`")
    try:
        inventory = Inventory.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc: Path_ = tuple(first["loc"])
        # Pydantic names the union branch or validator in the location; keep only real keys.
        loc = tuple(part for part in loc if isinstance(part, int) or not str(part).startswith(("function-", "list[")))
        problem = first["msg"]
        if isinstance(first.get("input"), bool | int | float | str) and first["type"] != "missing":
            problem += f" (got {first['input']!r})"
        raise InventoryError(source, builder.line_of(loc), _key_text(loc) or None, problem) from exc
    seen: set[str] = set()
    for i, cell in enumerate(inventory.cells):
        if cell.name in seen:
            raise InventoryError(source, builder.line_of(("cells", i, "name")), f"cells[{i}].name",
                                 f"cell {cell.name!r} is declared twice")
        seen.add(cell.name)
    return inventory, builder.line_of


def to_yaml(inventory: Inventory) -> str:
    """The inventory as ``cells.yaml`` text (what ``parse`` reads back unchanged)."""
    return yaml.safe_dump(inventory.model_dump(mode="json", exclude_none=True), sort_keys=False)
