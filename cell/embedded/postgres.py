"""A real PostgreSQL server: 16 from the ``pgserver`` wheel's binaries, or, with TLS, Debian's.

The ``pgserver`` wheel is built without OpenSSL, so a server that speaks TLS (``PostgresTLS``) runs
the system's PostgreSQL binaries (Debian's ``postgresql`` package: ``/usr/lib/postgresql/N/bin``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

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


SYSTEM_BINARIES = Path("/usr/lib/postgresql")


def tls_bin_dir() -> Path:
    """The newest system PostgreSQL's binaries (built with OpenSSL, unlike ``pgserver``'s)."""
    found = sorted((p.parent for p in SYSTEM_BINARIES.glob("*/bin/postgres")),
                   key=lambda b: int(b.parent.name) if b.parent.name.isdigit() else 0)
    if not found:
        raise RuntimeError(f"TLS needs a PostgreSQL built with OpenSSL and none is in {SYSTEM_BINARIES}: "
                           "apt-get install postgresql (pgserver's binaries have no SSL support)")
    return found[-1]


@dataclass(frozen=True, slots=True)
class PostgresTLS:
    """TLS for an embedded server: ``ssl=on`` with this certificate and key (PEM files; copied into the
    data folder, the key readable by the server user only), and ``ca_file``, the CA that signed it,
    which the server's own DSN names (``sslmode=verify-full``, ``sslrootcert``: a copy, ``root_cert``).

    ``require``: pg_hba.conf accepts TCP connections over TLS only (``hostssl``; ``hostnossl`` is
    rejected). A logical replication connection, such as a move's subscription, is an ordinary
    database connection to pg_hba.conf (its ``replication`` keyword matches physical replication
    only), so this is what demands TLS of the walsenders too. The Unix socket stays ``trust``.
    """

    cert_file: Path
    key_file: Path
    ca_file: Path | None = None
    require: bool = True


HBA_TLS_ONLY = """# cell.embedded.postgres: TCP connections over TLS only (a move's subscription included)
local     all          all                  trust
hostssl   all          all   127.0.0.1/32   trust
hostssl   replication  all   127.0.0.1/32   trust
hostnossl all          all   0.0.0.0/0      reject
hostnossl replication  all   0.0.0.0/0      reject
"""


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
    ``durable=False`` turns fsync off: for test suites only. ``tls``: ``ssl=on`` (see ``PostgresTLS``).
    """

    name = "postgres"
    stop_signal = signal.SIGINT  # fast shutdown: open sessions are ended, committed data is kept
    _not_ready = (psycopg.OperationalError,)

    def __init__(self, data_dir: Path, *, port: int | None = None, durable: bool = True,
                 tls: PostgresTLS | None = None) -> None:
        super().__init__(data_dir, port=port)
        self.durable = durable
        self.tls = tls
        self.bin_dir = tls_bin_dir() if tls is not None else bin_dir()
        self._user: pwd.struct_passwd | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def dsn(self, dbname: str = "postgres") -> str:
        """The superuser's DSN over TCP; with TLS, one that verifies the server (or, without a CA, requires TLS)."""
        plain = f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"
        if self.tls is None:
            return plain
        if self.tls.ca_file is None:
            return f"{plain}?sslmode=require"
        return f"{plain}?sslmode=verify-full&sslrootcert={quote(str(self.root_cert), safe='/')}"

    @property
    def root_cert(self) -> Path:
        """The server's copy of ``tls.ca_file``, readable by every user of this machine (PostgreSQL servers
        included: another embedded server's subscription can verify this one against it)."""
        return self.data_dir / "tls" / "root.crt"

    def start(self, timeout: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        uid: int | None = None
        gid: int | None = None
        if is_root():
            self._user = _ensure_server_user()
            open_parents_for(self.bin_dir)
            open_parents_for(self.data_dir)
            shutil.chown(self.data_dir, self._user.pw_uid, self._user.pw_gid)
            uid, gid = self._user.pw_uid, self._user.pw_gid
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(uid, gid)
        sockdir = self.data_dir
        args = [
            str(self.bin_dir / "postgres"),
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
            *self._tls_args(uid, gid),
        ]
        # As the server user, its own HOME: libpq in the server (a subscription's connections) looks for
        # ~/.postgresql/postgresql.crt and fails on a HOME it may not read (root's).
        env = None if uid is None else {**os.environ, "HOME": str(self.data_dir)}
        with open(self.data_dir / "postgres.log", "ab") as logfile:
            self._launch(args, stdout=logfile, user=uid, group=gid, env=env)
        self._wait_ready(timeout, log, f"postgres ready on port {self.port} ({self.data_dir})")

    def _tls_args(self, uid: int | None, gid: int | None) -> list[str]:
        """``ssl=on`` with copies of the certificate and key the server user owns (PostgreSQL refuses a
        key others can read), and, if TLS is required, a pg_hba.conf of ``hostssl`` rules only."""
        if self.tls is None:
            return []
        folder = self.data_dir / "tls"
        folder.mkdir(mode=0o755, exist_ok=True)
        cert, key = folder / "server.crt", folder / "server.key"
        shutil.copyfile(self.tls.cert_file, cert)
        shutil.copyfile(self.tls.key_file, key)
        key.chmod(0o600)
        if self.tls.ca_file is not None:
            shutil.copyfile(self.tls.ca_file, self.root_cert)
            self.root_cert.chmod(0o644)
        args = ["-c", "ssl=on", "-c", f"ssl_cert_file={cert}", "-c", f"ssl_key_file={key}"]
        if self.tls.require:
            hba = folder / "pg_hba.conf"
            hba.write_text(HBA_TLS_ONLY)
            args += ["-c", f"hba_file={hba}"]
        if uid is not None and gid is not None:
            for path in (folder, *folder.iterdir()):
                os.chown(path, uid, gid)
        return args

    def _initdb(self, uid: int | None, gid: int | None) -> None:
        done = subprocess.run(
            [
                str(self.bin_dir / "initdb"),
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
