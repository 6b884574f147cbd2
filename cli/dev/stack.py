"""``cellctl dev up``: a complete local deployment under ``.cellchat/`` in the working folder.

The composition root of the local deployment. It starts, in order: the control
plane's catalog (an embedded PostgreSQL), the control plane, the cells declared
in ``cells.yaml`` (applied and provisioned *through the control plane*, by its
``local`` backend, with this process as their owner), the router, and the demo
data. It stops them all on the way out. Data, tokens and ports stay in
``.cellchat/`` between runs (ports only while they are free).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
from pydantic import BaseModel, ValidationError

from cell.embedded import EmbeddedPostgres
from cell.embedded.process import die_with_parent, free_port, stop_process
from cell.settings import CellSettings
from cell.store import databases
from cli import devfile
from cli.dev.seed import Demo, Seeder, demos
from control_plane import inventory
from control_plane.inventory import Inventory
from control_plane.provisioning.local import LocalBackend, port_is_free, read_json, write_json

REPO_CELLS_FILE = Path(__file__).resolve().parents[2] / "cells.yaml"
CATALOG = "catalog"


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
    cell_env: tuple[tuple[str, str], ...] = ()  # extra CELLCHAT_* for the cells (benchmarks: no rate limits)
    # Cells the catalog has but the file no longer declares would be drained: only when this says yes.
    confirm_drain: Callable[[list[str]], bool] = lambda cells: False


# What the cell's supervisor sets itself, per cell (control_plane/provisioning/local_cell.py).
_MANAGED = {"NAME", "REGION", "ADMIN_TOKEN", "DATABASE__DSN", "REDIS__URL", "API__HOST", "API__PORT", "GATEWAY_URL"}


def _setting_exists(path: list[str]) -> bool:
    model: type[BaseModel] = CellSettings
    for depth, part in enumerate(path):
        field = model.model_fields.get(part.lower())
        if field is None:
            return False
        annotation = field.annotation
        if depth < len(path) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def parse_cell_env(pairs: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``KEY=VALUE`` cell settings (``CELLCHAT_`` prefix optional) as ``(CELLCHAT_KEY, VALUE)``.

    A name that is no setting of ``cell.settings.CellSettings``, or one the local supervisor
    sets per cell (database, Redis, ports, name), is refused: a typo must not pass silently.
    """
    parsed: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().upper()
        if not sep or not key:
            raise DevError(f"--cell-env {pair!r}: expected KEY=VALUE")
        name = key.removeprefix("CELLCHAT_")
        if name in _MANAGED:
            raise DevError(f"--cell-env {key}: set by cellctl dev up for each cell, not settable")
        if not _setting_exists(name.split("__")):
            raise DevError(f"--cell-env {key}: no such cell setting (see cell/settings.py; nested: A__B)")
        parsed[f"CELLCHAT_{name}"] = value
    nested: dict[str, Any] = {}
    for key, value in parsed.items():
        *parents, last = key.removeprefix("CELLCHAT_").lower().split("__")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    try:
        CellSettings.model_validate(nested)
    except ValidationError as exc:
        problems = "; ".join(f"{'__'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise DevError(f"--cell-env: {problems}") from exc
    return tuple(parsed.items())


def default_cells_file(folder: Path) -> Path:
    here = folder / "cells.yaml"
    return here if here.exists() else REPO_CELLS_FILE


def load_secrets(base: Path) -> dict[str, str]:
    """Tokens of this deployment, made once and kept (0600) so a second run reuses them."""
    path = base / "secrets.json"
    current: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    wanted = ("cell_admin", "operator", "viewer", "router")
    if not all(k in current for k in wanted):
        for key in wanted:
            current.setdefault(key, secrets.token_urlsafe(24))
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(current, indent=2))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    return current


def _python_service(module: str, env: dict[str, str], log: Path, *, spare: bool = False) -> subprocess.Popen[bytes]:
    """Start ``python -m module``; with ``spare``, a warm spare of it (``cli.dev.standby``) waiting for ``go``."""
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CELLCHAT_")}
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "cli.dev.standby", module] if spare else [sys.executable, "-m", module]
    with open(log, "ab") as out:
        return subprocess.Popen(
            command, env={**base_env, **env}, stdin=subprocess.PIPE if spare else subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, preexec_fn=die_with_parent(signal.SIGTERM),
        )


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DevError(f"{url} exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise DevError(f"{url} did not answer within {within:.0f}s; see {log}")


class DevStack:
    def __init__(self, options: DevOptions, say: Callable[[str], None]) -> None:
        self.options = options
        self.say = say
        self.base = options.folder.resolve() / devfile.STATE_DIR
        self._lock: IO[str] | None = None
        self._catalog: EmbeddedPostgres | None = None
        self._control_plane: subprocess.Popen[bytes] | None = None
        self._router: subprocess.Popen[bytes] | None = None
        self._specs: dict[str, tuple[str, dict[str, str], Path]] = {}  # name -> module, env, log: to restart
        self._spares: dict[str, subprocess.Popen[bytes]] = {}  # name -> its warm spare (cli/dev/standby.py)
        self._restarted: dict[str, float] = {}
        self._cells_started = False
        self._router_port = options.router_port
        self.inventory: Inventory | None = None

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
        ports = read_json(self.base / "ports.json") or {}
        # Chosen first: the cells' gateways accept WebSockets from the web page the router serves.
        self._router_port = self._port(ports, "router", self.options.router_port)
        control_plane = self._start_control_plane(keys, ports)
        with httpx.Client(base_url=control_plane, timeout=60.0,
                          headers={"Authorization": f"Bearer {keys['operator']}"}) as cp:
            self._apply_and_provision(cp, text)
            router = self._start_router(keys, ports, control_plane)
            write_json(self.base / "ports.json", ports)
            cells = [devfile.DevCell(name=c["name"], region=c["region"], api=c["api"], gateway=c["gateway"])
                     for c in self._call(cp, "GET", "/v1/cells")["cells"] if c["api"]]
            dev = devfile.DevFile(router=router, control_plane=control_plane, cells=cells, pid=os.getpid())
            if self.options.seed:
                dev.workspaces = self._seed(cp, router, sorted({c.region for c in cells}))
        devfile.write(self.options.folder, dev)
        return dev

    def refresh(self, dev: devfile.DevFile) -> devfile.DevFile:
        """dev.json as things are now: cells provisioned since, workspaces moved since."""
        assert self._control_plane is not None
        keys = load_secrets(self.base)
        with httpx.Client(base_url=dev.control_plane or "", timeout=10.0,
                          headers={"Authorization": f"Bearer {keys['operator']}"}) as cp:
            cells = [devfile.DevCell(name=c["name"], region=c["region"], api=c["api"], gateway=c["gateway"])
                     for c in self._call(cp, "GET", "/v1/cells")["cells"] if c["api"]]
            homes = {w["id"]: w["cell"] for w in self._call(cp, "GET", "/v1/workspaces")["workspaces"]}
        current = dev.model_copy(update={
            "cells": cells,
            "workspaces": [w.model_copy(update={"cell": homes.get(w.id, w.cell)}) for w in dev.workspaces]})
        if current != dev:
            devfile.write(self.options.folder, current)
        return current

    def _spawn(self, name: str, module: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        self._specs[name] = (module, env, log)
        proc = _python_service(module, env, log)
        self._spares[name] = _python_service(module, env, log, spare=True)
        return proc

    def _take_over(self, name: str) -> subprocess.Popen[bytes]:
        """The service ``name`` again: its warm spare told to go (then a new spare), else a cold start."""
        module, env, log = self._specs[name]
        spare = self._spares.pop(name, None)
        proc = None
        if spare is not None and spare.poll() is None and spare.stdin is not None:
            try:
                spare.stdin.write(b"go\n")
                spare.stdin.close()
                proc = spare
            except OSError:
                stop_process(spare, signal.SIGTERM)
        self._spares[name] = _python_service(module, env, log, spare=True)
        return proc if proc is not None else _python_service(module, env, log)

    def heal(self) -> list[str]:
        """Start again the router or control plane if it exited (a crash, SIGKILL, the OOM killer), on
        its port and with its settings; returns what was restarted. Call it often: it does not wait."""
        restarted = []
        for name, attr in (("control plane", "_control_plane"), ("router", "_router")):
            proc: subprocess.Popen[bytes] | None = getattr(self, attr)
            if proc is None or proc.poll() is None or name not in self._specs:
                continue
            if time.monotonic() - self._restarted.get(name, 0.0) < 1.0:
                continue  # one that dies at once (a port taken, a bad setting): not more than once a second
            self._restarted[name] = time.monotonic()
            self.say(f"[yellow]the {name} exited ({proc.returncode}); starting it again[/] "
                     f"(log: {self._specs[name][2]})")
            setattr(self, attr, self._take_over(name))
            restarted.append(name)
        return restarted

    def down(self) -> None:
        if self._lock is None:
            return  # not ours: another dev up holds the folder (its dev.json and processes stay)
        devfile.path_in(self.options.folder).unlink(missing_ok=True)
        for spare in self._spares.values():
            stop_process(spare, signal.SIGTERM)
            if spare.stdin is not None:
                spare.stdin.close()
        self._spares.clear()
        if self._router is not None:
            stop_process(self._router, signal.SIGTERM)
        if self._control_plane is not None:
            stop_process(self._control_plane, signal.SIGTERM)
        if self._cells_started:
            # The cells' supervisors were started by the control plane with us as their owner.
            LocalBackend(self.base / "cells", cell_admin_token="").stop_all()
        if self._catalog is not None:
            self._catalog.stop()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    @property
    def router_pid(self) -> int | None:
        return self._router.pid if self._router is not None else None

    # -- pieces ---------------------------------------------------------------------------

    def _port(self, ports: dict[str, Any], key: str, preferred: int) -> int:
        for candidate in (ports.get(key), None if self.options.free_ports else preferred):
            if isinstance(candidate, int) and candidate > 0 and port_is_free(candidate):
                ports[key] = candidate
                return candidate
        ports[key] = free_port()
        return int(ports[key])

    def _start_control_plane(self, keys: dict[str, str], ports: dict[str, Any]) -> str:
        home = self.base / "control-plane"
        self._catalog = EmbeddedPostgres(home / "postgres", port=self._port(ports, "catalog_postgres", 0))
        self.say("starting the control plane (catalog PostgreSQL, API)")
        self._catalog.start()
        if not databases.exists(self._catalog.dsn(), CATALOG):
            databases.create(self._catalog.dsn(), CATALOG)
        port = self._port(ports, "control_plane", self.options.control_plane_port)
        tokens = [{"name": "dev-operator", "roles": ["sre", "compliance"], "token": keys["operator"]},
                  {"name": "dev-viewer", "roles": ["viewer"], "token": keys["viewer"]},
                  {"name": "router", "roles": ["viewer"], "token": keys["router"]}]
        log = home / "control-plane.log"
        self._control_plane = self._spawn("control plane", "control_plane.server", {
            "CELLCHAT_CP_DATABASE__DSN": self._catalog.dsn(CATALOG),
            "CELLCHAT_CP_API__PORT": str(port),
            "CELLCHAT_CP_TOKENS": json.dumps(tokens),
            "CELLCHAT_CP_CELL_ADMIN_TOKEN": keys["cell_admin"],
            "CELLCHAT_CP_PROVISIONING__STATE_DIR": str(self.base / "cells"),
            "CELLCHAT_CP_PROVISIONING__OWNER_PID": str(os.getpid()),
            "CELLCHAT_CP_PROVISIONING__FREE_PORTS": "true" if self.options.free_ports else "false",
            "CELLCHAT_CP_PROVISIONING__CELL_ENV": json.dumps(self._cell_env()),
        }, log)
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/v1/health", self._control_plane, log)
        return url

    def _cell_env(self) -> dict[str, str]:
        """The cells' settings: ``--cell-env``, the router's page as an allowed WebSocket origin, and
        loopback as a network apps may be reached on (the SSRF guard, cell/egress.py)."""
        env = dict(self.options.cell_env)
        port = self._router_port
        env.setdefault("CELLCHAT_REALTIME__ALLOWED_ORIGINS",
                       json.dumps([f"http://127.0.0.1:{port}", f"http://localhost:{port}"]))
        # Apps on this machine (a Bolt app on localhost) may receive events: loopback only.
        env.setdefault("CELLCHAT_EGRESS__ALLOWED_NETWORKS", json.dumps(["127.0.0.0/8", "::1/128"]))
        return env

    def _call(self, cp: httpx.Client, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = cp.request(method, path, **kwargs)
        body: dict[str, Any] = response.json()
        if not body.get("ok"):
            raise DevError(f"control plane: {method} {path}: {body.get('error')}: {body.get('message')}")
        return body

    def _apply_and_provision(self, cp: httpx.Client, text: str) -> None:
        body = {"yaml": text, "source": str(self.options.cells_file), "reason": "cellctl dev up"}
        plan = self._call(cp, "POST", "/v1/cells/apply", json={**body, "dry_run": True})
        drains = [c["cell"] for c in plan["changes"] if c["kind"] == "drain"]
        if drains:
            # Never on our own: a cell left out of the file (another -f, an edit) is asked about.
            self.say(f"[yellow]{self.options.cells_file} no longer declares {', '.join(drains)}[/]: applying it "
                     "drains them (no new workspaces there)")
            if not self.options.confirm_drain(drains):
                raise DevError(f"not draining {', '.join(drains)}: declare them in {self.options.cells_file} "
                               "again, or answer yes (--yes) to drain them")
        applied = self._call(cp, "POST", "/v1/cells/apply", json=body)
        for change in applied["changes"]:
            if change["kind"] != "unchanged":
                self.say(change["description"])
        assert self.inventory is not None
        local = [c.name for c in self.inventory.cells if c.local is not None]
        adopted = [c.name for c in self.inventory.cells if c.endpoints is not None]
        self.say(f"provisioning cells {', '.join(local)} (PostgreSQL, Redis, cell process each)")
        self._cells_started = True
        statuses = {c["name"]: c["status"] for c in self._call(cp, "GET", "/v1/cells")["cells"]}
        for name in local + adopted:
            if statuses.get(name) in ("draining", "drained"):
                self.say(f"[yellow]cell {name} is {statuses[name]}[/]: started, but it takes no new workspaces "
                         f"(cellctl cells undrain {name})")
            self._call(cp, "POST", f"/v1/cells/{name}/provision", json={"reason": "cellctl dev up"})
        deadline = time.monotonic() + 300
        pending = set(local + adopted)
        while pending:
            for name in sorted(pending):
                cell = self._call(cp, "GET", f"/v1/cells/{name}")["cell"]
                step = cell["provisioning"].get("step")
                if step == "failed" and name in adopted:
                    # A cell that runs elsewhere may be down; the local deployment works without it.
                    self.say(f"[yellow]cell {name} is not ready[/]: {cell['provisioning'].get('error')}")
                    pending.discard(name)
                elif step == "failed":
                    raise DevError(f"cell {name} failed: {cell['provisioning'].get('error')}")
                if step == "done":
                    pending.discard(name)
            if time.monotonic() > deadline:
                raise DevError(f"cells {', '.join(sorted(pending))} not ready after 300s")
            time.sleep(0.1)

    def _start_router(self, keys: dict[str, str], ports: dict[str, Any], control_plane: str) -> str:
        port = self._router_port if port_is_free(self._router_port) else self._port(ports, "router", 0)
        log = self.base / "router" / "router.log"
        self.say("starting the router")
        self._router = self._spawn("router", "router.server", {
            "CELLCHAT_ROUTER_PORT": str(port),
            "CELLCHAT_ROUTER_CONTROL_PLANE_URL": control_plane,
            "CELLCHAT_ROUTER_CONTROL_PLANE_TOKEN": keys["router"],
            "CELLCHAT_ROUTER_STATE_FILE": str(self.base / "router" / "routes.json"),
        }, log)
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/_router/health", self._router, log)
        return url

    def _seed(self, cp: httpx.Client, router: str, regions: list[str]) -> list[devfile.DevWorkspace]:
        def create(demo: Demo, body: dict[str, Any]) -> dict[str, Any]:
            made = self._call(cp, "POST", "/v1/workspaces", json={
                **body, "region": demo.key, "pin": demo.key == "eu",
                "reason": "cellctl dev up: demo workspace"})
            workspace = made["workspace"]
            return {"workspace": {"id": workspace["id"], "general": made["general"]}, "owner": made["owner"],
                    "token": made["token"], "cell": workspace["cell"]}

        with httpx.Client(timeout=30.0) as http:
            seeder = Seeder(self.base / "seed.json", self.say, http)
            records = [seeder.seed(demo, create, lambda cell: router) for demo in demos(regions)]
        return [devfile.DevWorkspace.model_validate(r) for r in records]
