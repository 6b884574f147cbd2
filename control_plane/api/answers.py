"""The shapes of the control plane's answers, for its OpenAPI document (``control_plane.api.app``).

Every refusal is ``Refusal`` (``control_plane.errors``: a stable code, a message for humans, and
the error's own details such as the ``line`` and ``key`` of a bad inventory). Each successful
answer is a ``TypedDict`` here, built from the actions' ``*_json`` functions; they are closed
(``additionalProperties: false``) except where a value is free-form by design (a cell's declared
``spec``, a move's ``progress``, an audit entry's ``details``). Compliance's and the transfers'
are in ``compliance_answers``. ``tests/control_plane/test_openapi_answers.py`` validates real
answers of every ``/v1`` endpoint against the document.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

_CLOSED = ConfigDict(extra="forbid")


@with_config(ConfigDict(extra="allow"))
class Refusal(TypedDict):
    """``{"ok": false, "error": code, "message": why}``, plus the details some errors carry."""

    ok: Literal[False]
    error: str
    message: str


@with_config(_CLOSED)
class Ok(TypedDict):
    ok: Literal[True]


CellStatus = Literal["provisioning", "active", "draining", "drained", "retired"]


@with_config(_CLOSED)
class Cell(TypedDict):
    """A cell (``control_plane.actions.cells.cell_json``)."""

    name: str
    region: str
    status: CellStatus
    backend: Literal["local", "endpoints", "kubernetes"]
    capacity: int
    load: int
    fullness: float | None
    api: str | None
    gateway: str | None
    spec: dict[str, Any]
    provisioning: dict[str, Any]
    created_at: str
    updated_at: str


@with_config(_CLOSED)
class Health(Ok):
    service: Literal["control-plane"]


@with_config(_CLOSED)
class WhoAmI(Ok):
    name: str
    roles: list[str]
    workspaces: list[str] | None


@with_config(_CLOSED)
class Cells(Ok):
    cells: list[Cell]


@with_config(_CLOSED)
class OneCell(Ok):
    cell: Cell


@with_config(_CLOSED)
class Change(TypedDict):
    kind: Literal["create", "update", "drain", "unchanged"]
    cell: str
    description: str
    changes: dict[str, Any]


@with_config(_CLOSED)
class Applied(Ok):
    dry_run: bool
    changes: list[Change]


@with_config(_CLOSED)
class Provisioning(Ok):
    """A dry run names what would happen; otherwise the cell and whether provisioning still runs."""

    dry_run: bool
    cell: Cell | str
    backend: NotRequired[str]
    would: NotRequired[Literal["start", "resume"]]
    plan: NotRequired[dict[str, Any] | None]
    in_progress: NotRequired[bool]


@with_config(ConfigDict(extra="allow"))
class CellChange(Ok):
    """Drain, undrain, decommission: the status before and after (``would_be`` in a dry run), and
    what each adds (a running drain stopped, the backend, old copies dropped)."""

    cell: str
    status: CellStatus
    changed: bool
    dry_run: bool
    would_be: NotRequired[CellStatus]


@with_config(_CLOSED)
class Workspace(TypedDict):
    """A workspace (``control_plane.actions.workspaces.workspace_json``)."""

    id: str
    name: str
    cell: str
    region: str
    region_pin: str | None
    status: NotRequired[Literal["creating", "active", "failed"]]
    created_at: NotRequired[str]
    updated_at: NotRequired[str]


@with_config(_CLOSED)
class Owner(TypedDict):
    id: str
    team_id: str
    email: str
    name: str
    is_admin: bool
    is_owner: bool
    is_bot: bool


@with_config(_CLOSED)
class CreatedWorkspace(Ok):
    dry_run: bool
    workspace: Workspace
    owner: NotRequired[Owner]
    token: NotRequired[str]
    general: NotRequired[str | None]
    routing_version: NotRequired[int]


@with_config(_CLOSED)
class Workspaces(Ok):
    workspaces: list[Workspace]


@with_config(_CLOSED)
class OneWorkspace(Ok):
    workspace: Workspace


@with_config(_CLOSED)
class Pinned(Ok):
    workspace: str
    region_pin: str | None
    before: str | None
    dry_run: bool
    changed: bool


@with_config(_CLOSED)
class CellRoute(TypedDict):
    name: str
    region: str
    status: str
    api: str
    gateway: str


@with_config(_CLOSED)
class Table(TypedDict):
    version: int
    cells: list[CellRoute]
    routes: dict[str, str]


@with_config(_CLOSED)
class Routes(Ok):
    table: Table


@with_config(_CLOSED)
class RouteChange(TypedDict):
    version: int
    kind: Literal["cell", "route"]
    key: str
    value: dict[str, Any] | None


@with_config(_CLOSED)
class RouteChanges(Ok):
    version: int
    changes: list[RouteChange]


@with_config(_CLOSED)
class Lookup(Ok):
    workspace: str
    cell: CellRoute
    version: int


@with_config(_CLOSED)
class Entry(TypedDict):
    """An audit entry (``control_plane.domain.audit.Entry.to_json``)."""

    seq: int
    at: str
    actor: str
    role: str
    action: str
    target: str
    outcome: Literal["ok", "refused", "failed"]
    reason: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


@with_config(_CLOSED)
class Entries(Ok):
    entries: list[Entry]


@with_config(_CLOSED)
class Verdict(TypedDict):
    ok: bool
    entries: int
    broken_at: int | None
    problem: str | None


@with_config(_CLOSED)
class Verified(Ok):
    verification: Verdict


@with_config(_CLOSED)
class Migration(TypedDict):
    """A move (``control_plane.actions.moves.move_json``)."""

    id: int
    workspace: str
    source: str
    target: str
    status: Literal["queued", "running", "done", "aborted", "failed"]
    phase: str
    drain: int | None
    requested_by: str
    reason: str | None
    abort_requested: bool
    progress: dict[str, Any]
    error: str | None
    freeze_ms: int | None
    elapsed_seconds: float
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    cleaned_at: str | None


@with_config(_CLOSED)
class Migrations(Ok):
    migrations: list[Migration]


@with_config(_CLOSED)
class OneMigration(Ok):
    migration: Migration


@with_config(_CLOSED)
class Started(Ok):
    dry_run: bool
    migration: NotRequired[Migration]
    plan: NotRequired[dict[str, Any]]


@with_config(_CLOSED)
class Drain(TypedDict):
    id: int
    cell: str
    status: Literal["running", "done", "incomplete"]
    parallel: int
    requested_by: str
    reason: str | None
    migrations: dict[str, int]
    created_at: str | None
    updated_at: str | None


@with_config(_CLOSED)
class DrainOf(Ok):
    cell: str
    status: CellStatus
    workspaces: int
    drain: Drain | None
    migrations: list[Migration]


@with_config(ConfigDict(extra="allow"))
class Drained(Ok):
    """A drain: its plan in a dry run, else the cell, its drain and the planned migrations."""

    cell: str
    status: CellStatus
    dry_run: bool
    changed: bool
    plan: NotRequired[list[dict[str, str]]]


@with_config(_CLOSED)
class Collected(TypedDict):
    migration: int
    workspace: str
    cell: str
    outcome: str


@with_config(_CLOSED)
class Gc(Ok):
    dry_run: bool
    grace_seconds: float
    collected: list[Collected]


V1: dict[tuple[str, str], type] = {
    ("/v1/health", "get"): Health,
    ("/v1/whoami", "get"): WhoAmI,
    ("/v1/cells", "get"): Cells,
    ("/v1/cells/apply", "post"): Applied,
    ("/v1/cells/{name}", "get"): OneCell,
    ("/v1/cells/{name}/provision", "post"): Provisioning,
    ("/v1/cells/{name}/drain", "post"): CellChange,
    ("/v1/cells/{name}/undrain", "post"): CellChange,
    ("/v1/cells/{name}/decommission", "post"): CellChange,
    ("/v1/workspaces", "get"): Workspaces,
    ("/v1/workspaces", "post"): CreatedWorkspace,
    ("/v1/workspaces/{workspace_id}", "get"): OneWorkspace,
    ("/v1/workspaces/{workspace_id}/pin", "post"): Pinned,
    ("/v1/workspaces/{workspace_id}/unpin", "post"): Pinned,
    ("/v1/routes", "get"): Routes,
    ("/v1/routes/changes", "get"): RouteChanges,
    ("/v1/routes/{workspace_id}", "get"): Lookup,
    ("/v1/audit", "get"): Entries,
    ("/v1/audit/verify", "get"): Verified,
    ("/v1/migrations", "get"): Migrations,
    ("/v1/migrations", "post"): Started,
    ("/v1/migrations/drain", "post"): Drained,
    ("/v1/migrations/drains/{cell}", "get"): DrainOf,
    ("/v1/migrations/gc", "post"): Gc,
    ("/v1/migrations/{id}", "get"): OneMigration,
    ("/v1/migrations/{id}/abort", "post"): OneMigration,
    ("/v1/migrations/{id}/resume", "post"): OneMigration,
}
"""Each JSON endpoint's successful answer but compliance's and the transfers'
(``control_plane.api.compliance_answers``, which also has the streamed answers)."""
