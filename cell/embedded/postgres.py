"""A real PostgreSQL 16 server from the ``pgserver`` wheel's binaries."""

from __future__ import annotations

import importlib.util
import logging
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg

from cell.embedded.process import (
    die_with_parent,
    free_port,
    is_root,
    open_parents_for,
    stop_process,
)

log = logging.getLogger(__name__)

SERVER_USER = "cellchat-pg"
SUPERUSER = "postgres"


def bin_dir() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the pgserver package is not installed: pip install pgserver")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _ensure_server_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVER_USER)


class EmbeddedPostgres:
    """One PostgreSQL cluster in ``data_dir``, listening on 127.0.0.1:``port``.

    The cluster keeps its data across restarts. ``wal_level=logical`` is always
    on so that workspaces can move between cells by logical replication.
    ``durable=False`` turns fsync off: for test suites only.
    """

    def __init__(self, data_dir: Path, *, port: int | None = None, durable: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.durable = durable
        self._proc: subprocess.Popen[bytes] | None = None
        self._user: pwd.struct_passwd | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def start(self, timeout: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        uid: int | None = None
        gid: int | None = None
        if is_root():
            self._user = _ensure_server_user()
            open_parents_for(bin_dir())
            open_parents_for(self.data_dir)
            shutil.chown(self.data_dir, self._user.pw_uid, self._user.pw_gid)
            uid, gid = self._user.pw_uid, self._user.pw_gid
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(uid, gid)
        sockdir = self.data_dir
        args = [
            str(bin_dir() / "postgres"),
            "-D", str(self.pgdata),
            "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={sockdir}",
            "-c", "wal_level=logical",
            "-c", "max_wal_senders=40",
            "-c", "max_replication_slots=40",
            "-c", "max_logical_replication_workers=20",
            "-c", "max_worker_processes=40",
            "-c", "max_connections=300",
            "-c", "shared_buffers=256MB",
            "-c", f"fsync={'on' if self.durable else 'off'}",
            "-c", f"full_page_writes={'on' if self.durable else 'off'}",
        ]
        logfile = open(self.data_dir / "postgres.log", "ab")
        self._proc = subprocess.Popen(
            args,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent(signal.SIGINT),  # fast shutdown
            user=uid,
            group=gid,
        )
        logfile.close()
        self._wait_ready(timeout)
        log.info("postgres ready on port %s (%s)", self.port, self.data_dir)

    def _initdb(self, uid: int | None, gid: int | None) -> None:
        done = subprocess.run(
            [
                str(bin_dir() / "initdb"),
                "-D", str(self.pgdata),
                "-U", SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
            capture_output=True,
            user=uid,
            group=gid,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed for {self.pgdata}: {done.stderr.decode(errors='replace').strip()}")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(
                    f"postgres exited with {self._proc.returncode}; see {self.data_dir / 'postgres.log'}"
                )
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                last = exc
                time.sleep(0.1)
        raise TimeoutError(f"postgres did not become ready in {timeout}s: {last}")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Fast shutdown: open sessions are ended, committed data is kept."""
        if self._proc is not None:
            stop_process(self._proc, signal.SIGINT)
            self._proc = None

    def kill(self) -> None:
        """Crash the server (SIGKILL), for fault tests."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
