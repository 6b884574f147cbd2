"""Child-process plumbing shared by the embedded servers."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Self

_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def die_with_parent(sig: int) -> Callable[[], None]:
    """A ``preexec_fn`` asking the kernel to send ``sig`` when the launcher dies.

    Runs in the child after the uid switch (which would clear the setting).
    The signal follows the *thread* that forked, so servers must be started
    from a long-lived thread (the main thread in practice).
    """

    def _set() -> None:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        os.setpgid(0, 0)  # own process group: a Ctrl-C reaches the launcher only

    return _set


def stop_process(proc: subprocess.Popen[bytes], sig: int, timeout: float = 15.0) -> None:
    """Send ``sig``, wait for the exit, escalate to SIGKILL after ``timeout``."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def is_root() -> bool:
    return os.geteuid() == 0


def open_parents_for(path: Path) -> None:
    """Let an unprivileged server user traverse every folder above ``path``."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o005 != 0o005:
            parent.chmod(mode | 0o005)


class ChildServer:
    """The lifecycle both embedded servers share: one child process on 127.0.0.1:``port``.

    A subclass builds its command line and says how to tell that it answers; this
    class launches it (dying with the launcher), waits until it is ready, stops it
    with ``stop_signal`` (SIGKILL after a timeout) or kills it, and is a context
    manager that starts and stops it.
    """

    name = "server"  # in log lines and errors
    stop_signal = signal.SIGTERM  # also sent when the launcher dies
    poll_interval = 0.1
    _not_ready: tuple[type[Exception], ...] = (ConnectionError,)  # what ``_ping`` raises meanwhile

    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        raise NotImplementedError

    def _ping(self) -> None:
        """Return when the server answers; raise one of ``_not_ready`` while it does not yet."""
        raise NotImplementedError

    def _exited(self, returncode: int) -> str:
        return f"{self.name} exited with {returncode}"

    def _launch(
        self, args: list[str], *, stdout: IO[bytes] | int = subprocess.DEVNULL,
        user: int | None = None, group: int | None = None, env: dict[str, str] | None = None,
    ) -> None:
        self._proc = subprocess.Popen(
            args,
            env=env,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent(self.stop_signal),
            user=user,
            group=group,
        )

    def _wait_ready(self, timeout: float, log: logging.Logger, ready: str) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(self._exited(self._proc.returncode))
            try:
                self._ping()
            except self._not_ready as exc:
                last = exc
                time.sleep(self.poll_interval)
            else:
                log.info("%s", ready)
                return
        raise TimeoutError(f"{self.name} did not become ready in {timeout}s: {last}")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc, self.stop_signal)
            self._proc = None

    def kill(self) -> None:
        """Crash the server (SIGKILL), for fault tests."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
