"""A real PostgreSQL 16 server from the ``pgserver`` wheel's binaries."""

from __future__ import annotations

import importlib.util
import logging
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

import psycopg

from cell.embedded.process import ChildServer, is_root, open_parents_for

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


class EmbeddedPostgres(ChildServer):
    """One PostgreSQL cluster in ``data_dir``, listening on 127.0.0.1:``port``.

    The cluster keeps its data across restarts. ``wal_level=logical`` is always
    on so that workspaces can move between cells by logical replication.
    ``durable=False`` turns fsync off: for test suites only.
    """

    name = "postgres"
    stop_signal = signal.SIGINT  # fast shutdown: open sessions are ended, committed data is kept
    _not_ready = (psycopg.OperationalError,)

    def __init__(self, data_dir: Path, *, port: int | None = None, durable: bool = True) -> None:
        super().__init__(data_dir, port=port)
        self.durable = durable
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
        with open(self.data_dir / "postgres.log", "ab") as logfile:
            self._launch(args, stdout=logfile, user=uid, group=gid)
        self._wait_ready(timeout, log, f"postgres ready on port {self.port} ({self.data_dir})")

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

    def _ping(self) -> None:
        with psycopg.connect(self.dsn(), connect_timeout=2):
            pass

    def _exited(self, returncode: int) -> str:
        return f"postgres exited with {returncode}; see {self.data_dir / 'postgres.log'}"
