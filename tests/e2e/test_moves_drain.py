"""`cellctl cells drain` empties a cell of 20 workspaces: each moves to another cell of its region,
within capacity, a few at a time; the cell ends empty and drained."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from cell.embedded import EmbeddedRedis
from cli.main import app
from tests.support.cells import ADMIN_TOKEN
from tests.support.control_plane import OPERATOR
from tests.support.infra import Infra
from tests.support.moves import Server, Stack, stack

WORKSPACES, PINNED = 20, 5
CAPACITY = {"us-1": 100, "us-2": 12, "us-3": 100, "eu-1": 100}  # us-2 takes at most 10 (90 %)


@dataclass
class Drained:
    stack: Stack
    exit_code: int
    answer: dict[str, Any]
    us: list[str]  # the workspaces that were on us-1
    eu: list[str]  # workspaces of eu-1, which must not move
    homes: dict[str, str]  # workspace -> cell, after the drain

    def hosted_by(self, cell: str) -> set[str]:
        listed = httpx.get(f"{self.stack.cells[cell].url}/v1/workspaces",
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()["workspaces"]
        return {w["id"] for w in listed if w.get("status", "active") == "active"}


@pytest.fixture(scope="module")
def drained(infra: Infra, move_servers: list[Server], move_caches: list[EmbeddedRedis]) -> Iterator[Drained]:
    with stack(infra, [("us-1", "us", move_servers[0], move_caches[0]),
                       ("us-2", "us", move_servers[1], move_caches[1]),
                       ("us-3", "us", move_servers[1], move_caches[2]),
                       ("eu-1", "eu", move_servers[0], move_caches[3])],
               capacity=CAPACITY, register=["us-1", "eu-1"]) as running:
        cp = running.control_plane
        us = [cp.create_workspace("us", pin=i < PINNED)["workspace"]["id"] for i in range(WORKSPACES)]
        eu = [cp.create_workspace("eu")["workspace"]["id"] for _ in range(2)]
        running.register(CAPACITY)  # us-2 and us-3 join after the workspaces were placed on us-1
        result = CliRunner().invoke(app, ["--control-plane", cp.url, "--token", OPERATOR, "cells", "drain", "us-1",
                                          "--parallel", "4", "--yes", "--reason", "maintenance", "-o", "json"],
                                    env={"COLUMNS": "200"})
        homes = {w["id"]: w["cell"] for w in cp.ok("GET", "/v1/workspaces")["workspaces"]}
        yield Drained(running, result.exit_code, json.loads(result.stdout or "{}"), us, eu, homes)


def test_drain_succeeds(drained: Drained) -> None:
    """The command exits 0 and reports the cell drained."""
    assert (0, "drained") == (drained.exit_code, drained.answer["status"])


def test_drained_cell_is_empty_and_drained(drained: Drained) -> None:
    """us-1 hosts no workspace any more and its status is drained."""
    cell = drained.stack.control_plane.ok("GET", "/v1/cells/us-1")["cell"]
    assert ("drained", 0, set()) == (cell["status"], cell["load"], drained.hosted_by("us-1"))


def test_every_workspace_moved_within_its_region(drained: Drained) -> None:
    """Each of the 20 workspaces (5 of them pinned to us) now lives on us-2 or us-3."""
    assert {"us-2", "us-3"} >= {drained.homes[w] for w in drained.us}


def test_moves_respected_capacity(drained: Drained) -> None:
    """us-2 (capacity 12) took no more than 90 % of it; us-3 took the rest."""
    on_us2 = sum(1 for w in drained.us if drained.homes[w] == "us-2")
    assert (True, WORKSPACES - on_us2) == (on_us2 <= math.floor(12 * 0.9),
                                           sum(1 for w in drained.us if drained.homes[w] == "us-3"))


def test_new_cells_serve_the_moved_workspaces(drained: Drained) -> None:
    """Each cell now hosts exactly the workspaces the catalog places there."""
    expected = {c: {w for w in drained.us if drained.homes[w] == c} for c in ("us-2", "us-3")}
    assert expected == {c: drained.hosted_by(c) for c in ("us-2", "us-3")}


def test_every_migration_of_the_drain_is_done(drained: Drained) -> None:
    """The drain ran one migration per workspace, all done."""
    assert ["done"] * WORKSPACES == [m["status"] for m in drained.answer["migrations"]]


def test_other_regions_are_untouched(drained: Drained) -> None:
    """The eu workspaces stay on eu-1."""
    assert ["eu-1", "eu-1"] == [drained.homes[w] for w in drained.eu]
