"""Who may do what. Tokens carry roles; each operation needs one of a set of roles."""

from __future__ import annotations

from dataclasses import dataclass

READ = frozenset({"viewer", "sre", "compliance"})
OPERATE = frozenset({"sre"})          # cells apply/provision/drain, workspaces create
PIN = frozenset({"compliance"})        # regional pins
AUDIT = frozenset({"compliance", "sre"})  # audit list/export/verify
HOLD = frozenset({"compliance"})       # legal holds: place, list, release
RETENTION = frozenset({"compliance"})  # retention policies: set, remove
RESIDENCY = frozenset({"compliance"})  # residency reports (signed, for auditors)
EXPORT = frozenset({"compliance", "sre"})  # workspace exports in Slack's format
COMPLIANCE = frozenset({"compliance"})     # compliance exports (held and deleted-under-hold content)


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    roles: tuple[str, ...]
    workspaces: frozenset[str] | None = None  # the workspaces a limited token may act on; None: every one

    def reaches(self, workspace_id: str) -> bool:
        """Whether this actor may read or act on the workspace (a limited token: only its own)."""
        return self.workspaces is None or workspace_id in self.workspaces

    def role_for(self, allowed: frozenset[str]) -> str | None:
        """The first of the actor's roles that ``allowed`` accepts, else None."""
        return next((role for role in self.roles if role in allowed), None)

    @property
    def role_text(self) -> str:
        return ",".join(self.roles)


SYSTEM = Actor("control-plane", ("system",))
