"""Property: over any sequence of create / pin / unpin / provision / drain, a pinned workspace never lives
in a cell of another region, and every change (and every refusal) has an audit entry in a chain that verifies.

Real cells (four, in regions us, eu and ap) and a real catalog per example; the control plane's actions are
driven directly, one event loop per example.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from psycopg.rows import dict_row

from cell.domain import ids
from cell.store import databases
from control_plane import bootstrap
from control_plane.actions import audit, cells, provisioning, workspaces
from control_plane.domain.roles import Actor
from control_plane.errors import ControlPlaneError
from control_plane.settings import ControlPlaneSettings
from tests.support.cells import ADMIN_TOKEN, PASSWORD, RunningCell, running_cell
from tests.support.control_plane import fresh_catalog, inventory
from tests.support.infra import Infra

CELLS = {"us-1": ("us", 3), "us-2": ("us", 2), "eu-1": ("eu", 2), "ap-1": ("ap", 2)}
SRE = Actor("sam", ("sre",))
COMPLIANCE = Actor("cora", ("compliance",))


@dataclass
class Cells:
    running: dict[str, RunningCell]

    def pins(self) -> dict[str, tuple[str, str | None]]:
        """Workspace -> (cell, pin) as the cells themselves record them."""
        found = {}
        for name, cell in self.running.items():
            listed = httpx.get(f"{cell.url}/v1/workspaces", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            for ws in listed.json()["workspaces"]:
                found[ws["id"]] = (name, ws["region_pin"])
        return found


@pytest.fixture(scope="module")
def real_cells(infra: Infra) -> Iterator[Cells]:
    with ExitStack() as stack:
        yield Cells({name: stack.enter_context(running_cell(infra, name=name, region=region))
                     for name, (region, _) in CELLS.items()})


class Placement(RuleBasedStateMachine):
    workspaces = Bundle("workspaces")

    def __init__(self, infra: Infra, real: Cells) -> None:
        super().__init__()
        self.infra, self.real = infra, real
        self.db_name, self.dsn = fresh_catalog(infra)
        self.loop = asyncio.new_event_loop()
        cp_settings = ControlPlaneSettings.model_validate({
            "database": {"dsn": self.dsn, "pool_min": 1, "pool_max": 4}, "cell_admin_token": ADMIN_TOKEN,
            "provisioning": {"endpoints_ready_timeout": 5.0}})
        self.services = bootstrap.build(cp_settings)
        yaml = inventory(*((n, region, real.running[n].url, cap) for n, (region, cap) in CELLS.items()))
        self.run(self.services.db.open())
        self.run(cells.apply(self.services, SRE, yaml, source="cells.yaml", dry_run=False, reason="setup"))
        for name in ("us-1", "eu-1"):
            self.run(provisioning.request(self.services, SRE, name, dry_run=False, reason="setup", wait=True))
        self.outcomes: list[str] = []

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def rows(self, sql: str) -> list[dict[str, Any]]:
        with psycopg.connect(self.dsn, row_factory=dict_row) as conn:
            return conn.execute(sql.encode()).fetchall()

    def catalog(self) -> list[Any]:
        return [self.rows("SELECT name, status, api_url FROM cells ORDER BY name"),
                self.rows("SELECT workspace_id, cell, region_pin, status FROM workspaces ORDER BY workspace_id")]

    def attempt(self, target: str, coro: Any) -> Any:
        """Run one operation; check that it was audited (a change as ok, a refusal as refused/failed)."""
        before_catalog = self.catalog()
        before = len(self.rows("SELECT seq FROM audit_log"))
        try:
            result, error = self.run(coro), None
        except ControlPlaneError as exc:
            result, error = None, exc
        entries = self.rows(f"SELECT target, outcome, details FROM audit_log WHERE seq > {before} ORDER BY seq")
        changed = before_catalog != self.catalog()
        if error is not None:
            assert [(target, error.code)] == [(e["target"], e["details"].get("error")) for e in entries]
            assert not changed, "a refused request changed the catalog"
            self.outcomes.append(error.code)
        elif changed:
            assert target in [e["target"] for e in entries if e["outcome"] == "ok"], (target, entries)
            self.outcomes.append("ok")
        return result

    def teardown(self) -> None:
        self.run(self.services.close())
        self.loop.close()
        databases.drop(self.infra.postgres.dsn(), self.db_name)

    @rule(target=workspaces, region=st.sampled_from(["us", "eu", "ap", "mars"]), pin=st.booleans())
    def create(self, region: str, pin: bool) -> str:
        n = len(self.outcomes)
        workspace_id = ids.new_id(ids.WORKSPACE)  # cells outlive examples: ids must not repeat
        made = self.attempt(workspace_id, workspaces.create(
            self.services, SRE, name=f"w{n}", region=region, workspace_id=workspace_id, pin=pin, dry_run=False,
            reason=None, owner={"email": f"o{n}@prop.example.com", "name": "o", "password": PASSWORD}))
        return workspace_id if made else "TNOTCREATED0"

    @rule(workspace=workspaces, region=st.sampled_from(["us", "eu", "ap", "mars"]))
    def pin(self, workspace: str, region: str) -> None:
        self.attempt(workspace, workspaces.pin(self.services, COMPLIANCE, workspace, region=region,
                                               reason="property", dry_run=False))

    @rule(workspace=workspaces)
    def unpin(self, workspace: str) -> None:
        self.attempt(workspace, workspaces.pin(self.services, COMPLIANCE, workspace, region=None,
                                               reason="property", dry_run=False))

    @rule(cell=st.sampled_from(sorted(CELLS)))
    def provision(self, cell: str) -> None:
        self.attempt(cell, provisioning.request(self.services, SRE, cell, dry_run=False, reason=None, wait=True))

    @rule(cell=st.sampled_from(sorted(CELLS)))
    def drain(self, cell: str) -> None:
        self.attempt(cell, cells.drain(self.services, SRE, cell, dry_run=False, reason=None))

    @invariant()
    def pinned_workspaces_live_in_their_region(self) -> None:
        misplaced = self.rows("SELECT w.workspace_id FROM workspaces w JOIN cells c ON c.name = w.cell"
                              " WHERE w.region_pin IS NOT NULL AND w.region_pin <> c.region")
        assert [] == misplaced

    @invariant()
    def cells_agree_on_pins(self) -> None:
        on_cells = self.real.pins()
        catalog = {r["workspace_id"]: (r["cell"], r["region_pin"])
                   for r in self.rows("SELECT workspace_id, cell, region_pin FROM workspaces WHERE status = 'active'")}
        assert catalog == {w: on_cells[w] for w in catalog}

    @invariant()
    def audit_chain_verifies(self) -> None:
        assert True is self.run(audit.verify(self.services.db)).ok


def test_pins_hold_and_every_change_is_audited(infra: Infra, real_cells: Cells) -> None:
    """Random create/pin/unpin/provision/drain sequences keep pins, cells and the audit chain consistent."""
    run_state_machine_as_test(
        lambda: Placement(infra, real_cells),
        settings=settings(max_examples=10, stateful_step_count=8, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]),
    )
