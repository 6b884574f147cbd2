"""Placement: which cell hosts a new workspace. Pure and deterministic.

Only ``active`` cells of the required region qualify; a cell never goes above
``max_fullness`` of its capacity; among those that fit, the one with the most
headroom wins, ties broken by name. There is no fallback to another region.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    region: str
    status: str
    capacity: int
    load: int

    def headroom(self, max_fullness: float) -> float:
        return self.capacity * max_fullness - self.load


class PlacementRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def known_regions(cells: Iterable[Candidate]) -> set[str]:
    """Regions that have a cell which is not retired."""
    return {c.region for c in cells if c.status != "retired"}


def choose(
    cells: Iterable[Candidate], region: str, *, max_fullness: float, pin: str | None = None
) -> Candidate:
    """The cell for one more workspace in ``region``; ``PlacementRefused`` says why there is none."""
    cells = list(cells)
    if pin is not None and pin != region:
        raise PlacementRefused("region_pinned", f"the workspace is pinned to region {pin}, not {region}")
    if region not in known_regions(cells):
        known = ", ".join(sorted(known_regions(cells))) or "none"
        raise PlacementRefused("unknown_region", f"unknown region {region!r} (known: {known})")
    active = [c for c in cells if c.region == region and c.status == "active"]
    if not active:
        raise PlacementRefused("no_active_cell", f"region {region} has no active cell")
    fits = [c for c in active if c.load + 1 <= c.capacity * max_fullness]
    if not fits:
        raise PlacementRefused(
            "no_capacity",
            f"every active cell in region {region} is full (threshold {max_fullness:.0%} of capacity)",
        )
    return min(fits, key=lambda c: (-c.headroom(max_fullness), c.name))
