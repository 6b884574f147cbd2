"""The one image: built by scripts/image-build from Debian's packages (buildah + debootstrap),
it runs every role's entrypoint and a real cell that answers its health check.

Opt-in (scripts/image-test; a first build takes one to two minutes): pytest's default run
ignores tests/image.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import infra as infra_mod

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "BUILDAH_ISOLATION": "chroot"}


def buildah(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["buildah", *args], capture_output=True, text=True, env=ENV, check=check, timeout=600)


@pytest.fixture(scope="module")
def image() -> str:
    tag = os.environ.get("CELLCHAT_IMAGE")
    if tag:
        return tag
    built = subprocess.run([str(ROOT / "scripts/image-build"), "--debootstrap"], capture_output=True,
                           text=True, env=ENV, timeout=1200)
    assert built.returncode == 0, built.stderr[-4000:]
    return built.stdout.strip().splitlines()[-1]


@pytest.fixture
def container(image: str) -> Iterator[str]:
    name = buildah("from", "--pull-never", image).stdout.strip()
    try:
        yield name
    finally:
        buildah("rm", name, check=False)


def run_in(container: str, *command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env_args = [arg for key, value in (env or {}).items() for arg in ("--env", f"{key}={value}")]
    return buildah("run", *env_args, container, "--", *command, check=False)


def test_image_runs_as_an_unprivileged_user_without_compilers(image: str, container: str) -> None:
    """The image's user is 10001, its command cellctl --help, and the final stage has no compiler."""
    config = json.loads(buildah("inspect", "--type", "image", image).stdout)["OCIv1"]["config"]
    assert (config["User"], config["Cmd"]) == ("10001:10001", ["cellctl", "--help"])
    found = run_in(container, "sh", "-c", "command -v gcc cc c++ clang || true")
    assert found.stdout.strip() == ""
    assert run_in(container, "id", "-u").stdout.strip() == "10001"


def test_every_entrypoint_answers_help(container: str) -> None:
    """cellctl and each role's module start and print their usage."""
    for command, expected in ((["cellctl", "--help"], "Usage"),
                              (["python", "-m", "cell.server", "--help"], "--role")):
        done = run_in(container, *command)
        assert (done.returncode, expected in done.stdout) == (0, True), done.stderr
    for module in ("router.server", "control_plane.server", "cell.store.migrate"):
        done = run_in(container, "python", "-c", f"import importlib; importlib.import_module({module!r})")
        assert done.returncode == 0, done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_cell_in_the_image_migrates_and_answers_health(
        container: str, infra: infra_mod.Infra, tmp_path: Path) -> None:
    """The cell's init step migrates a real database, then the cell process in the image answers
    /v1/health and /readyz ready from its region, over the host's loopback, logging JSON lines."""
    name, dsn = infra.fresh_database()
    port = _free_port()
    env = {"CELLCHAT_DATABASE__DSN": dsn, "CELLCHAT_REDIS__URL": infra.redis.url, "CELLCHAT_NAME": "img-1",
           "CELLCHAT_REGION": "eu", "CELLCHAT_API__PORT": str(port),
           "CELLCHAT_ADMIN_TOKEN": "image-test-admin-token",
           "CELLCHAT_STORAGE__ROOT": "/tmp/files"}  # as the chart gives local storage its volume
    migrated = run_in(container, "python", "-m", "cell.store.migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    env_args = [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]
    log = tmp_path / "cell.log"
    with log.open("wb") as out:
        server = subprocess.Popen(["buildah", "run", *env_args, container, "--", "python", "-m", "cell.server",
                                   "--role", "all"], env=ENV, stdout=out, stderr=subprocess.STDOUT)
    try:
        body: dict[str, object] | None = None
        for _ in range(300):
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).json()
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except httpx.HTTPError:
                if server.poll() is not None:
                    break
                time.sleep(0.1)
        assert body == {"ok": True, "cell": "img-1", "region": "eu", "redis": "up"}, log.read_text()
        assert ready.status_code == 200, log.read_text()
        assert all(line.startswith("{") for line in log.read_text().splitlines() if line.strip())  # JSON logs
    finally:
        server.terminate()
        server.wait(timeout=30)
        infra.drop_database(name)
