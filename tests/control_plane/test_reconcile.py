"""cells apply's diff: create, update, drain, unchanged; region and backend never change."""

from __future__ import annotations

import pytest

from control_plane.domain.reconcile import ApplyRefused, Current, plan, spec_json
from control_plane.inventory import parse

FILE = """\
version: 1
cells:
  - {name: us-1, region: us, capacity: {workspaces: 10}, local: {}}
  - {name: eu-1, region: eu, capacity: {workspaces: 20}, endpoints: {api: 'http://eu', gateway: 'ws://eu'}}
"""


def current(text: str, status: str = "active") -> list[Current]:
    return [Current(c.name, c.region, status, c.backend, spec_json(c)) for c in parse(text).cells]


def test_new_cells_are_created() -> None:
    """An empty catalog gets every declared cell."""
    assert [("create", "us-1"), ("create", "eu-1")] == [(c.kind, c.name) for c in plan([], parse(FILE))]


def test_same_file_changes_nothing() -> None:
    """Applying the catalog's own state again is a no-op."""
    assert ["unchanged", "unchanged"] == [c.kind for c in plan(current(FILE), parse(FILE))]


def test_capacity_change_is_an_update() -> None:
    """A new capacity is an update naming the old and new value."""
    changes = plan(current(FILE), parse(FILE.replace("workspaces: 10", "workspaces: 15")))
    assert {"capacity": (10, 15)} == changes[0].fields


def test_undeclared_cell_is_drained() -> None:
    """A live cell missing from the file is drained, not deleted."""
    changes = plan(current(FILE), parse(FILE.split("  - {name: eu-1")[0]))
    assert [("unchanged", "us-1"), ("drain", "eu-1")] == [(c.kind, c.name) for c in changes]


def test_already_drained_cell_is_left_alone() -> None:
    """A drained cell missing from the file needs no change."""
    assert [] == plan(current(FILE, "drained"), parse("version: 1\ncells: []\n"))


def test_region_change_is_refused() -> None:
    """A cell's region never changes; the refusal names the cell's index and key."""
    with pytest.raises(ApplyRefused) as caught:
        plan(current(FILE), parse(FILE.replace("region: eu", "region: us")))
    assert (1, "region") == (caught.value.index, caught.value.key)


def test_backend_change_is_refused() -> None:
    """A local cell cannot become an endpoints cell."""
    text = FILE.replace("local: {}", "endpoints: {api: 'http://us', gateway: 'ws://us'}")
    with pytest.raises(ApplyRefused) as caught:
        plan(current(FILE), parse(text))
    assert (0, "endpoints") == (caught.value.index, caught.value.key)
