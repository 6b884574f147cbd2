"""``cellctl dev up``: a complete local deployment under ``.cellchat/`` in the working folder.

The composition root of the local deployment: it owns every process it starts
(directly, or as the *owner* of the local cells' supervisors) and stops them all
on the way out. Data stays in ``.cellchat/`` between runs; so do the ports, when
they are still free.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from cli import devfile
from cli.dev.seed import Demo, Seeder, demos
from control_plane import inventory
from control_plane.inventory import CellSpec, Inventory
from control_plane.provisioning.local import LocalBackend

REPO_CELLS_FILE = Path(__file__).resolve().parents[2] / "cells.yaml"


class DevError(Exception):
    """The local deployment cannot start; ``str()`` says why."""


@dataclass(frozen=True, slots=True)
class DevOptions:
    folder: Path
    cells_file: Path
    router_port: int = 8100
    control_plane_port: int = 8099
    free_ports: bool = False
    seed: bool = True


def default_cells_file(folder: Path) -> Path:
    here = folder / "cells.yaml"
    return here if here.exists() else REPO_CELLS_FILE


def load_secrets(base: Path) -> dict[str, str]:
    """Tokens of this deployment, made once and kept (0600) so a second run reuses them."""
    path = base / "secrets.json"
    current: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    wanted = ("cell_admin",)
    if not all(k in current for k in wanted):
        for key in wanted:
            current.setdefault(key, secrets.token_urlsafe(24))
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(current, indent=2))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    return current


class DevStack:
    def __init__(self, options: DevOptions, say: Callable[[str], None]) -> None:
        self.options = options
        self.say = say
        self.base = options.folder.resolve() / devfile.STATE_DIR
        self._lock: IO[str] | None = None
        self._backend: LocalBackend | None = None
        self.inventory: Inventory | None = None
        self.cells: list[devfile.DevCell] = []

    # -- lifecycle ------------------------------------------------------------------------

    def lock(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        handle = open(self.base / "dev.lock", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.close()
            raise DevError(f"another `cellctl dev up` already runs in {self.options.folder}") from exc
        self._lock = handle

    def up(self) -> devfile.DevFile:
        self.lock()
        try:
            text = self.options.cells_file.read_text()
        except OSError as exc:
            raise DevError(f"cannot read {self.options.cells_file}: {exc}") from exc
        try:
            self.inventory = inventory.parse(text, str(self.options.cells_file))
        except inventory.InventoryError as exc:
            raise DevError(str(exc)) from exc
        keys = load_secrets(self.base)
        self._backend = LocalBackend(
            self.base / "cells", cell_admin_token=keys["cell_admin"], free_ports=self.options.free_ports,
        )
        self.cells = self._start_cells([c for c in self.inventory.cells if c.local is not None])
        dev = devfile.DevFile(router=None, control_plane=None, cells=self.cells, pid=os.getpid())
        if self.options.seed:
            dev.workspaces = self._seed(keys)
        devfile.write(self.options.folder, dev)
        return dev

    def down(self) -> None:
        devfile.path_in(self.options.folder).unlink(missing_ok=True)
        if self._backend is not None:
            self._backend.stop_all()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # -- pieces ---------------------------------------------------------------------------

    def _start_cells(self, specs: list[CellSpec]) -> list[devfile.DevCell]:
        backend = self._backend
        assert backend is not None

        async def progress(step: str, state: dict[str, Any]) -> None:
            return None

        async def start_all() -> list[devfile.DevCell]:
            made = await asyncio.gather(*(backend.provision(spec, None, progress) for spec in specs))
            return [devfile.DevCell(name=s.name, region=s.region, api=e.api, gateway=e.gateway)
                    for s, e in zip(specs, made, strict=True)]

        self.say(f"starting cells {', '.join(s.name for s in specs)} (PostgreSQL, Redis, cell API)")
        return asyncio.run(start_all())

    def _seed(self, keys: dict[str, str]) -> list[devfile.DevWorkspace]:
        by_region: dict[str, devfile.DevCell] = {}
        for cell in self.cells:
            by_region.setdefault(cell.region, cell)
        apis = {cell.name: cell.api for cell in self.cells}

        with httpx.Client(timeout=30.0) as http:
            def create(demo: Demo, body: dict[str, Any]) -> dict[str, Any]:
                cell = by_region[demo.key]
                response = http.post(f"{cell.api}/v1/workspaces", json={**body, "region_pin": None},
                                     headers={"Authorization": f"Bearer {keys['cell_admin']}"})
                made: dict[str, Any] = response.json()
                if not made.get("ok"):
                    raise DevError(f"creating the demo workspace in {cell.name}: {made.get('error')}")
                return {**made, "cell": cell.name}

            seeder = Seeder(self.base / "seed.json", self.say, http)
            records = [seeder.seed(demo, create, apis.__getitem__) for demo in demos(sorted(by_region))]
        return [devfile.DevWorkspace.model_validate(r) for r in records]
