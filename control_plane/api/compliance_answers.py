"""The shapes of compliance's answers (holds, retention, residency, the signing key) and of the
transfers' (exports, imports), for the control plane's OpenAPI document (``control_plane.api.app``
merges them with ``answers.V1``). Holds, policies and exports are built by the workspace's cell
(``cell.compliance.holds``, ``cell.compliance.retention``, ``cell.actions.exports.job_json``) and
passed on unchanged; a residency report by ``control_plane.domain.residency.report``.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from control_plane.api.answers import Entry, Ok, RouteChange, Verdict

_CLOSED = ConfigDict(extra="forbid")


@with_config(_CLOSED)
class Hold(TypedDict):
    id: str
    name: str
    users: list[str]
    conversations: list[str]
    created_by: str
    created_at: str
    active: bool
    released_at: str | None
    released_by: str | None
    release_reason: str | None


@with_config(_CLOSED)
class OneHold(Ok):
    hold: Hold


@with_config(_CLOSED)
class Holds(Ok):
    holds: list[Hold]


@with_config(_CLOSED)
class Policy(TypedDict):
    scope: Literal["workspace", "dms", "conversation"]
    conversation: str | None
    keep_days: int | None
    keep: str
    set_by: str
    set_at: str


@with_config(_CLOSED)
class Policies(Ok):
    workspace: str
    policies: list[Policy]


@with_config(_CLOSED)
class Decision(TypedDict):
    """The audit entry behind a fact of the report: who decided, when, why."""

    seq: int
    at: str
    actor: str
    role: str
    action: str
    reason: str | None


@with_config(_CLOSED)
class Residence(TypedDict):
    """A cell the workspace's data has lived in (``residency.cells_of``)."""

    cell: str
    region: str | None
    arrived_at: str
    left_at: str | None
    home: bool
    data: list[str]
    decisions: list[Decision]


@with_config(_CLOSED)
class PinChange(Decision):
    region: str | None


@with_config(_CLOSED)
class Violation(Decision):
    cell: str
    region: str
    pinned_to: str


@with_config(_CLOSED)
class Chain(Verdict):
    head_seq: int
    head_hash: str | None


@with_config(_CLOSED)
class Current(TypedDict):
    cell: str
    region: str
    region_pin: str | None
    status: str


@with_config(_CLOSED)
class Report(TypedDict):
    kind: str
    workspace: str
    generated_at: str
    generated_by: str
    current: Current | None
    cells: list[Residence]
    regions: list[str]
    pins: list[PinChange]
    violations: list[Violation]
    chain: Chain
    entries: list[Entry]


@with_config(_CLOSED)
class Signature(TypedDict):
    algorithm: Literal["Ed25519"]
    key_id: str
    public_key: str
    value: str


@with_config(_CLOSED)
class Residency(Ok):
    """The report; with ``?signed=true`` also its Ed25519 signature over its canonical form."""

    report: Report
    signature: NotRequired[Signature]


@with_config(_CLOSED)
class PublicKey(Ok):
    algorithm: Literal["Ed25519"]
    key_id: str
    pem: str
    raw_base64: str


@with_config(_CLOSED)
class Gathered(Ok):
    """The cells' retention records newly copied into the audit log."""

    added: int


@with_config(_CLOSED)
class Export(TypedDict):
    id: str
    workspace: str
    compliance: bool
    requested_by: str
    state: Literal["queued", "running", "complete", "failed"]
    conversations_total: int | None
    conversations_done: int
    messages_done: int
    files_done: int
    attempts: int
    size: int | None
    sha256: str | None
    error: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    cell: str
    region: str


@with_config(_CLOSED)
class Download(TypedDict):
    url: str
    path: str
    expires: int
    sha256: str | None
    size: int | None


@with_config(_CLOSED)
class OneExport(Ok):
    export: Export
    download: NotRequired[Download]


@with_config(_CLOSED)
class ImportStarted(Ok):
    workspace: str
    cell: str
    region: str
    resumed: bool


@with_config(ConfigDict(extra="allow"))
class Unmapped(TypedDict):
    """What a batch could not map: its kind, the source id and why (some add their own fields)."""

    kind: str
    reason: str


@with_config(_CLOSED)
class Batch(Ok):
    received: int
    unmapped: list[Unmapped]


@with_config(_CLOSED)
class Stored(Ok):
    sha256: str
    size: int


@with_config(_CLOSED)
class ImportFinished(Ok):
    workspace: str
    cell: str
    region: str
    counts: dict[str, int]
    owner: str | None
    token: str | None


@with_config(_CLOSED)
class RoutingEvent(TypedDict):
    """A line of ``/v1/routes/watch``: ``changes`` (with them), ``heartbeat`` or ``reset`` (take a snapshot)."""

    type: Literal["changes", "heartbeat", "reset"]
    version: int
    changes: NotRequired[list[RouteChange]]


@with_config(_CLOSED)
class ExportVerdict(TypedDict):
    """The last line of ``/v1/audit/export``."""

    verification: Verdict
    exported_by: str


COMPLIANCE: dict[tuple[str, str], type] = {
    ("/v1/workspaces/{workspace_id}/holds", "get"): Holds,
    ("/v1/workspaces/{workspace_id}/holds", "post"): OneHold,
    ("/v1/workspaces/{workspace_id}/holds/{hold_id}/release", "post"): OneHold,
    ("/v1/workspaces/{workspace_id}/retention", "get"): Policies,
    ("/v1/workspaces/{workspace_id}/retention", "put"): Policies,
    ("/v1/workspaces/{workspace_id}/retention/remove", "post"): Policies,
    ("/v1/workspaces/{workspace_id}/residency", "get"): Residency,
    ("/v1/audit/public-key", "get"): PublicKey,
    ("/v1/audit/collect", "post"): Gathered,
    ("/v1/workspaces/{workspace_id}/exports", "post"): OneExport,
    ("/v1/workspaces/{workspace_id}/exports/{export_id}", "get"): OneExport,
    ("/v1/imports", "post"): ImportStarted,
    ("/v1/imports/{workspace_id}/{kind}", "post"): Batch,
    ("/v1/imports/{workspace_id}/objects/sha256/{sha256}", "put"): Stored,
    ("/v1/imports/{workspace_id}/finish", "post"): ImportFinished,
}

STREAMS: dict[tuple[str, str], tuple[str, Any]] = {
    ("/v1/routes/watch", "get"): ("application/x-ndjson", RoutingEvent),
    ("/v1/audit/export", "get"): ("application/x-ndjson", Entry | ExportVerdict),
    ("/v1/workspaces/{workspace_id}/exports/{export_id}/archive", "get"): ("application/zip", None),
}
"""Answers that are not one JSON document: NDJSON (each line one of the shape) or a zip archive."""
