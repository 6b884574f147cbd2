"""Placement: active cells of the region only, most headroom first, never above the threshold."""

from __future__ import annotations

import itertools

import pytest

from control_plane.domain.placement import Candidate, PlacementRefused, choose


def c(name: str, region: str = "eu", load: int = 0, capacity: int = 10, status: str = "active") -> Candidate:
    return Candidate(name, region, status, capacity, load)


def refused(*cells: Candidate, region: str = "eu", pin: str | None = None) -> str:
    with pytest.raises(PlacementRefused) as caught:
        choose(cells, region, max_fullness=0.8, pin=pin)
    return caught.value.code


def test_most_headroom_wins() -> None:
    """The cell with the most room below the threshold is chosen."""
    assert "eu-2" == choose([c("eu-1", load=5), c("eu-2", load=2, capacity=8), c("eu-3", load=6)], "eu",
                            max_fullness=0.8).name


def test_ties_break_by_name_in_any_order() -> None:
    """Equal headroom: the smallest name, whatever the order the cells come in."""
    cells = [c("eu-3"), c("eu-1"), c("eu-2")]
    assert {"eu-1"} == {choose(list(p), "eu", max_fullness=0.8).name for p in itertools.permutations(cells)}


def test_only_the_required_region() -> None:
    """A roomier cell in another region is never chosen."""
    assert "eu-1" == choose([c("us-1", "us"), c("eu-1", load=7)], "eu", max_fullness=0.8).name


def test_only_active_cells() -> None:
    """Provisioning, draining and drained cells get no new workspace."""
    cells = [c("eu-1", status="draining"), c("eu-2", status="provisioning"), c("eu-3", load=7)]
    assert "eu-3" == choose(cells, "eu", max_fullness=0.8).name


def test_never_above_threshold() -> None:
    """A cell at 8 of 10 with an 80% threshold is full."""
    assert "no_capacity" == refused(c("eu-1", load=8), c("eu-2", load=9))


def test_fills_up_to_threshold_exactly() -> None:
    """Placing workspaces one by one stops exactly at the threshold of each cell."""
    cells = {"eu-1": 0, "eu-2": 0}
    placed = 0
    while True:
        try:
            name = choose([c(n, load=used) for n, used in cells.items()], "eu", max_fullness=0.8).name
        except PlacementRefused:
            break
        cells[name] += 1
        placed += 1
    assert (16, {"eu-1": 8, "eu-2": 8}) == (placed, cells)


def test_no_fallback_to_another_region() -> None:
    """A region whose cells are all inactive is refused, although another region has room."""
    assert "no_active_cell" == refused(c("eu-1", status="drained"), c("us-1", "us"))


def test_unknown_region() -> None:
    """A region no cell declares is unknown."""
    assert "unknown_region" == refused(c("eu-1"), region="mars")


def test_pin_to_another_region_is_refused() -> None:
    """A workspace pinned to us cannot be placed in eu."""
    assert "region_pinned" == refused(c("eu-1"), c("us-1", "us"), pin="us")
