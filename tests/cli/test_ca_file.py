"""``cellctl`` against a control plane serving HTTPS with a certificate of a private CA: refused,
with the way out named, while the CA is unknown; trusted with ``--ca-file``, ``$CELLCHAT_CA_FILE``
or a context's ``ca-file``; a CA file that cannot be read is a clear error, not a traceback."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.exits import Exit
from tests.support.control_plane import OPERATOR, RunningControlPlane, running_control_plane
from tests.support.devup import CELLCTL
from tests.support.infra import Infra
from tests.support.tls import certificates


@pytest.fixture(scope="module")
def https(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningControlPlane, str, Path]]:
    folder = tmp_path_factory.mktemp("cp-tls")
    ca, cert, key = certificates(folder)
    with running_control_plane(infra, api={"tls_cert_file": str(cert), "tls_key_file": str(key)}) as cp:
        yield cp, cp.url.replace("http://", "https://"), ca


def _cellctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CELLCHAT_", "CELLCTL_", "SSL_CERT"))}
    return subprocess.run([*CELLCTL, *args], capture_output=True, text=True, env={**base, **(env or {})},
                          timeout=60, cwd="/")


def test_an_unknown_ca_is_refused_with_the_way_out(https: tuple[RunningControlPlane, str, Path]) -> None:
    _, url, _ = https
    done = _cellctl("--control-plane", url, "--token", OPERATOR, "cells", "list")
    assert done.returncode == Exit.UNREACHABLE, done.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in done.stderr and "--ca-file" in done.stderr
    assert "Traceback" not in done.stderr


def test_ca_file_option_and_environment_trust_the_private_ca(https: tuple[RunningControlPlane, str, Path]) -> None:
    _, url, ca = https
    by_option = _cellctl("cells", "list", "--control-plane", url, "--token", OPERATOR, "--ca-file", str(ca), "-o", "json")
    assert by_option.returncode == 0, by_option.stderr
    assert json.loads(by_option.stdout) == []
    by_env = _cellctl("cells", "list", "-o", "json",
                      env={"CELLCHAT_CONTROL_PLANE_URL": url, "CELLCHAT_CONTROL_PLANE_TOKEN": OPERATOR,
                           "CELLCHAT_CA_FILE": str(ca)})
    assert by_env.returncode == 0, by_env.stderr


def test_a_context_names_its_ca(https: tuple[RunningControlPlane, str, Path], tmp_path: Path) -> None:
    _, url, ca = https
    env = {"CELLCTL_CONFIG": str(tmp_path / "cellctl.yaml"), "CP_TOKEN": OPERATOR}
    made = _cellctl("config", "set-context", "private", "--server", url, "--token-env", "CP_TOKEN",
                    "--certificate-authority", str(ca), "--use", env=env)
    assert made.returncode == 0, made.stderr
    listed = _cellctl("cells", "list", "-o", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


def test_an_unreadable_ca_file_is_bad_input(https: tuple[RunningControlPlane, str, Path], tmp_path: Path) -> None:
    _, url, _ = https
    not_a_ca = tmp_path / "garbage.pem"
    not_a_ca.write_text("not a certificate\n")
    for path in (tmp_path / "missing.pem", not_a_ca):
        done = _cellctl("--control-plane", url, "--token", OPERATOR, "--ca-file", str(path), "cells", "list")
        assert done.returncode == Exit.BAD_INPUT, done.stderr
        assert f"the CA file {path} cannot be used" in done.stderr and "Traceback" not in done.stderr
