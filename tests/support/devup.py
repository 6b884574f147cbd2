"""Running ``cellctl dev up`` as a real subprocess, and finding what it left running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

_SCRIPT = Path(sys.executable).with_name("cellctl")  # the installed console script
CELLCTL = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c", "from cli.main import run; run()"]


class DevUp:
    """One ``cellctl dev up`` in ``folder``; ``start()`` returns once ``.cellchat/dev.json`` exists."""

    def __init__(self, folder: Path, *args: str) -> None:
        self.folder = folder
        self.args = ["--free-ports", *args]
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = folder / "devup.log"

    @property
    def dev_file(self) -> Path:
        return self.folder / ".cellchat" / "dev.json"

    def start(self, timeout: float = 180.0) -> dict[str, Any]:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [*CELLCTL, "dev", "up", *self.args],
                cwd=self.folder, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "COLUMNS": "200"},
            )
        deadline = time.monotonic() + timeout
        while not self.dev_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"cellctl dev up exited with {self.proc.returncode}:\n{self.log.read_text()}")
            if time.monotonic() > deadline:
                self.interrupt()
                raise TimeoutError(f"no dev.json after {timeout}s:\n{self.log.read_text()}")
            time.sleep(0.1)
        data: dict[str, Any] = json.loads(self.dev_file.read_text())
        return data

    def interrupt(self, timeout: float = 90.0) -> int:
        """Ctrl-C (SIGINT) and wait for the exit; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


def cellctl(folder: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``cellctl ARGS`` in ``folder`` (where it finds the dev deployment by itself)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELLCHAT_")}
    return subprocess.run([*CELLCTL, *args], cwd=folder, capture_output=True, text=True, input=input,
                          env={**env, "COLUMNS": "200"}, timeout=300)


def secrets_of(folder: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads((folder / ".cellchat" / "secrets.json").read_text())
    return data


def leftovers(folder: Path) -> list[str]:
    """Processes that run from ``folder`` (cwd) or name it on their command line."""
    root = str(folder.resolve())
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd", "status"]):
        info = proc.info
        if info["status"] == psutil.STATUS_ZOMBIE:
            continue
        cwd = info["cwd"] or ""
        cmdline = " ".join(info["cmdline"] or [])
        if cwd.startswith(root) or root in cmdline:
            found.append(f"{info['pid']} {cmdline}")
    return found
