"""The routing table format: lookups, in-order changes, gaps detected, JSON round trip."""

from __future__ import annotations

import pytest

from control_plane.routing import CellRoute, Change, RoutingTable, VersionGap

EU = {"region": "eu", "status": "active", "api": "http://eu", "gateway": "ws://eu/rtm"}


def table() -> RoutingTable:
    t = RoutingTable()
    t.apply([Change(1, "cell", "eu-1", EU), Change(2, "route", "TAAAAAAAA1", {"cell": "eu-1"})])
    return t


def test_lookup_follows_route_to_cell() -> None:
    """A routed workspace resolves to its cell's endpoints."""
    assert CellRoute("eu-1", "eu", "active", "http://eu", "ws://eu/rtm") == table().lookup("TAAAAAAAA1")


def test_unknown_workspace_is_none() -> None:
    """A workspace the table lacks resolves to None."""
    assert None is table().lookup("TBBBBBBBB2")


def test_old_changes_are_ignored() -> None:
    """Changes at or below the table's version change nothing."""
    t = table()
    assert (0, 2) == (t.apply([Change(2, "route", "TAAAAAAAA1", None)]), t.version)


def test_gap_is_refused() -> None:
    """A change that skips a version raises VersionGap and leaves the table as it was."""
    t = table()
    with pytest.raises(VersionGap):
        t.apply([Change(4, "route", "TAAAAAAAA1", None)])
    assert (2, "eu-1") == (t.version, t.routes["TAAAAAAAA1"])


def test_removal() -> None:
    """A null value removes the route."""
    t = table()
    t.apply([Change(3, "route", "TAAAAAAAA1", None)])
    assert None is t.lookup("TAAAAAAAA1")


def test_json_round_trip() -> None:
    """from_json(to_json(t)) equals t."""
    assert table() == RoutingTable.from_json(table().to_json())
