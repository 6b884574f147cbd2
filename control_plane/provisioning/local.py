"""The ``local`` backend: a cell with its own embedded PostgreSQL and Redis on this machine.

Each cell gets a folder ``<state_dir>/<name>/`` holding its data (kept across
runs), ``cell.json`` (its plan: ports, owner) and ``state.json`` (written by the
cell's supervisor process, ``control_plane.provisioning.local_cell``).

The supervisor runs in its own session and outlives whoever started it, but not
its *owner* (a pid given in the plan: the control plane, or ``cellctl dev up``):
when the owner dies, the supervisor stops the cell, Redis and PostgreSQL and
exits. So killing a control plane does not take the cells it provisioned down
with it, and a Ctrl-C on ``cellctl dev up`` leaves nothing behind.

Provisioning is resumable: ports and folders come from the previous plan when
there is one, an already running supervisor is adopted, PostgreSQL keeps its
data, the database is created only if missing and migrations are idempotent.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
import psutil

from cell.embedded.process import free_port
from control_plane.inventory import CellSpec
from control_plane.provisioning import Endpoints, Progress, ProvisioningFailed
from control_plane.provisioning.health import wait_ready

SUPERVISOR_MODULE = "control_plane.provisioning.local_cell"
PLAN_FILE, STATE_FILE, LOG_FILE = "cell.json", "state.json", "supervisor.log"


@dataclass(frozen=True, slots=True)
class LocalPlan:
    name: str
    region: str
    dir: str
    api_port: int
    postgres_port: int
    redis_port: int
    owner_pid: int
    owner_started: float
    cell_env: dict[str, str] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def gateway(self) -> str:
        # The cell serves its WebSocket gateway on the API port, at /rtm.
        return f"ws://127.0.0.1:{self.api_port}/rtm"

    def public(self) -> dict[str, Any]:
        """What the catalog records: everything but the owner (which changes per run)."""
        return {"dir": self.dir, "api_port": self.api_port, "postgres_port": self.postgres_port,
                "redis_port": self.redis_port}


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no obstacle
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically replace ``path`` (readers never see half a file)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def supervisor_process(cell_dir: Path) -> psutil.Process | None:
    """The live supervisor of the cell in ``cell_dir``, if any (checked against its command line)."""
    state = read_json(cell_dir / STATE_FILE)
    if not state or not isinstance(state.get("pid"), int):
        return None
    try:
        proc = psutil.Process(state["pid"])
        cmdline = proc.cmdline()
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    if SUPERVISOR_MODULE in cmdline and str(cell_dir) in cmdline:
        return proc
    return None


class LocalBackend:
    kind = "local"

    def __init__(
        self,
        state_dir: Path,
        *,
        cell_admin_token: str,
        owner_pid: int | None = None,
        free_ports: bool = False,
        cell_env: dict[str, str] | None = None,
        ready_timeout: float = 180.0,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.cell_admin_token = cell_admin_token
        self.owner_pid = owner_pid or os.getpid()
        self.free_ports = free_ports
        self.cell_env = dict(cell_env or {})
        self.ready_timeout = ready_timeout
        self._spawned: dict[str, tuple[int, float]] = {}  # cell -> (supervisor pid, when)

    def cell_dir(self, name: str) -> Path:
        return self.state_dir / name

    # -- planning -------------------------------------------------------------------------

    def plan(self, spec: CellSpec, previous: dict[str, Any] | None = None) -> LocalPlan:
        """Ports and folder for ``spec``: the previous ones when still usable, else fresh."""
        cell_dir = self.cell_dir(spec.name)
        before = read_json(cell_dir / PLAN_FILE) or previous or {}
        running = supervisor_process(cell_dir) is not None
        wanted_api = None if self.free_ports or spec.local is None else spec.local.api_port

        def pick(key: str, preferred: int | None) -> int:
            for candidate in (before.get(key), preferred):
                if isinstance(candidate, int) and (running or port_is_free(candidate)):
                    return candidate
            return free_port()

        owner = psutil.Process(self.owner_pid)
        return LocalPlan(
            name=spec.name,
            region=spec.region,
            dir=str(cell_dir),
            api_port=pick("api_port", wanted_api),
            postgres_port=pick("postgres_port", None),
            redis_port=pick("redis_port", None),
            owner_pid=self.owner_pid,
            owner_started=owner.create_time(),
            cell_env=self.cell_env,
        )

    # -- running --------------------------------------------------------------------------

    def start(self, plan: LocalPlan) -> bool:
        """Start the cell's supervisor unless one already runs; True when it started one now."""
        cell_dir = Path(plan.dir)
        cell_dir.mkdir(parents=True, exist_ok=True)
        running = supervisor_process(cell_dir)
        if running is not None:
            current = read_json(cell_dir / PLAN_FILE) or {}
            if current.get("owner_pid") == plan.owner_pid:
                return False
            # A supervisor from another owner (an earlier run): take it over cleanly.
            self.stop(plan.name)
        write_json(cell_dir / PLAN_FILE, asdict(plan))
        (cell_dir / STATE_FILE).unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CELLCHAT_")}
        env["CELLCHAT_ADMIN_TOKEN"] = self.cell_admin_token
        env["CELLCHAT_SUPERVISOR_LOG"] = str(cell_dir / LOG_FILE)
        # Detached (a shell starts it in the background and exits): the supervisor is nobody's child,
        # so it outlives its starter without leaving a zombie or an unwaited process behind.
        launcher = subprocess.run(
            ["/bin/sh", "-c", '"$@" >>"$CELLCHAT_SUPERVISOR_LOG" 2>&1 </dev/null & echo $!', "sh",
             sys.executable, "-m", SUPERVISOR_MODULE, str(cell_dir)],
            env=env, cwd=cell_dir, capture_output=True, text=True, timeout=30, start_new_session=True,
        )
        pid = int(launcher.stdout.strip())
        # Recorded at once (the supervisor rewrites it when it runs): a resumed provisioning that looks
        # before the supervisor got going must see it and adopt it, not start a second one.
        write_json(cell_dir / STATE_FILE, {"pid": pid, "status": "starting", "name": plan.name})
        self._spawned[plan.name] = (pid, time.monotonic())
        return True

    def failure(self, name: str) -> str | None:
        """Why the cell's supervisor gave up, if it did."""
        cell_dir = self.cell_dir(name)
        state = read_json(cell_dir / STATE_FILE) or {}
        if state.get("status") in ("failed", "stopped"):
            return f"cell {name} {state['status']}: {state.get('error') or 'see ' + str(cell_dir / LOG_FILE)}"
        spawned = self._spawned.get(name)
        if spawned is not None and not _alive(spawned[0]) and supervisor_process(cell_dir) is None:
            return f"cell {name}'s supervisor exited; see {cell_dir / LOG_FILE}"
        return None

    async def provision(self, spec: CellSpec, previous: dict[str, Any] | None, progress: Progress) -> Endpoints:
        plan = self.plan(spec, previous)
        await progress("planned", plan.public())
        self.start(plan)
        await progress("started", plan.public())
        await wait_ready(plan.api, plan.region, within=self.ready_timeout, gave_up=lambda: self.failure(plan.name))
        await progress("healthy", plan.public())
        return Endpoints(api=plan.api, gateway=plan.gateway)

    async def remove(self, spec: CellSpec) -> None:
        """Stop the cell and delete its folder (its PostgreSQL, Redis and object store data, its logs)."""
        await anyio.to_thread.run_sync(self._remove, spec.name)

    def _remove(self, name: str) -> None:
        self.stop(name)
        cell_dir = self.cell_dir(name)
        if supervisor_process(cell_dir) is not None:
            raise ProvisioningFailed(f"cell {name}'s supervisor did not stop; its folder {cell_dir} is kept")
        if cell_dir.exists():
            shutil.rmtree(cell_dir)

    def stop(self, name: str, timeout: float = 30.0) -> None:
        """Stop the cell (supervisor, then it stops cell, Redis, PostgreSQL); data is kept."""
        self._stop([name], timeout)

    def stop_all(self, timeout: float = 30.0) -> None:
        """Stop every cell under the state folder, all at once."""
        if self.state_dir.exists():
            self._stop(sorted(d.name for d in self.state_dir.iterdir() if d.is_dir()), timeout)

    def _stop(self, names: list[str], timeout: float) -> None:
        running = [p for p in (supervisor_process(self.cell_dir(n)) for n in names) if p is not None]
        for proc in running:
            try:
                proc.send_signal(signal.SIGTERM)
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(running, timeout=timeout)
        for proc in alive:
            proc.kill()  # its servers follow it (they die with their parent)
        psutil.wait_procs(alive, timeout=10)
        for name in names:
            self._spawned.pop(name, None)
