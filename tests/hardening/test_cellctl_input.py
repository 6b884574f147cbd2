"""``cellctl cells apply`` (a real process) and the control plane's apply endpoint on files that are not inventories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.hardening.conftest import Edge
from tests.support.control_plane import SRE
from tests.support.devup import CELLCTL

DEEP = "version: 1\ncells: " + "[" * 5000 + "]" * 5000 + "\n"


@pytest.mark.parametrize(("content", "expected"), [
    (bytes(range(256)) * 4, "is not a text file (UTF-8)"),
    (DEEP.encode(), "nested too deeply"),
])
def test_apply_refuses_binary_and_deep_files_without_a_traceback(edge: Edge, tmp_path: Path, content: bytes,
                                                                 expected: str) -> None:
    """A binary or 5,000-deep YAML file: exit 5, one error line, no traceback, the catalog as it was."""
    cp = edge.deployment.control_plane
    bad = tmp_path / "cells.yaml"
    bad.write_bytes(content)
    before = cp.catalog()
    done = subprocess.run([*CELLCTL, "--control-plane", cp.url, "--token", SRE, "cells", "apply", "-f", str(bad)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert (5, True, False, True) == (done.returncode, expected in done.stderr, "Traceback" in done.stderr,
                                      before == cp.catalog()), done.stderr[-800:]


def test_control_plane_refuses_deep_yaml(edge: Edge) -> None:
    """POST /v1/cells/apply with 5,000-deep YAML answers 400 invalid_inventory, not a 500."""
    cp = edge.deployment.control_plane
    answer = cp.request("POST", "/v1/cells/apply", json={"yaml": DEEP, "reason": "test"})
    assert (400, "invalid_inventory") == (answer.status_code, answer.json()["error"])
