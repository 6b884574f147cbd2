"""Child-process plumbing shared by the embedded servers."""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

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


