"""Planning moves: which cell may receive a workspace, and where a drain sends each one. Pure.

A move goes to an ``active`` cell other than the workspace's own, inside the
workspace's pinned region if it has a pin, and only if the cell stays under the
placement threshold counting the moves already heading there. A drain keeps
every workspace in its region (pinned or not) and spreads them like placement
does: the most headroom first, ties by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from control_plane.domain import placement

# The phases of a move, in order (docs/moves.md). Before "switching" completes the source is
# authoritative and an abort leaves it so; after it the move only goes forward.
PHASES = ("planned", "preparing", "replicating", "verifying", "freezing", "catching_up", "verifying_frozen",
          "switching", "marking_moved", "handing_over", "unfreezing", "cleaning", "done")
PRE_SWITCH = frozenset(PHASES[:PHASES.index("switching") + 1])
FROZEN_PRE_SWITCH = frozenset({"freezing", "catching_up", "verifying_frozen", "switching"})
POST_SWITCH = frozenset({"marking_moved", "handing_over", "unfreezing", "cleaning"})
FINISHED = frozenset({"done", "aborted"})


class MoveRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class CellView:
    name: str
    region: str
    status: str
    capacity: int
    load: int  # workspaces placed there plus moves heading there
    has_database: bool


def check_target(workspace_id: str, source: str, region_pin: str | None, target: CellView,
                 *, max_fullness: float) -> None:
    """``MoveRefused`` when ``target`` may not receive the workspace; the pin is checked first."""
    if target.name == source:
        raise MoveRefused("same_cell", f"workspace {workspace_id} already lives in cell {source}")
    if region_pin is not None and target.region != region_pin:
        raise MoveRefused("region_pinned", f"workspace {workspace_id} is pinned to region {region_pin}; "
                          f"cell {target.name} is in region {target.region}")
    if target.status != "active":
        raise MoveRefused("invalid_state", f"cell {target.name} is {target.status}; workspaces move to active cells")
    if target.load + 1 > target.capacity * max_fullness:
        raise MoveRefused("no_capacity", f"cell {target.name} is full ({target.load}/{target.capacity} with moves "
                          f"in flight; threshold {max_fullness:.0%})")
    if not target.has_database:
        raise MoveRefused("no_database", f"cell {target.name} has no database DSN in the catalog "
                          "(cells.yaml endpoints.database); moves replicate between cell databases")


def plan_drain(workspaces: Iterable[tuple[str, str | None]], cells: Iterable[CellView], source: CellView,
               *, max_fullness: float) -> list[tuple[str, str]]:
    """``[(workspace, target)]`` for every workspace of ``source``, each kept in ``source``'s region;
    ``MoveRefused`` (naming the first workspace that fits nowhere) when they do not all fit."""
    views = {c.name: c for c in cells if c.name != source.name and c.has_database}
    plan: list[tuple[str, str]] = []
    for workspace_id, pin in workspaces:
        # The source takes part as draining: its region is known, and it is never chosen.
        candidates = [placement.Candidate(source.name, source.region, "draining", source.capacity, source.load)]
        candidates += [placement.Candidate(c.name, c.region, c.status, c.capacity, c.load) for c in views.values()]
        try:
            chosen = placement.choose(candidates, source.region, max_fullness=max_fullness, pin=pin)
        except placement.PlacementRefused as exc:
            raise MoveRefused(exc.code, f"workspace {workspace_id} cannot leave cell {source.name}: {exc.message}"
                              f" ({len(plan)} of the cell's workspaces would fit elsewhere)") from exc
        views[chosen.name] = replace(views[chosen.name], load=views[chosen.name].load + 1)
        plan.append((workspace_id, chosen.name))
    return plan
