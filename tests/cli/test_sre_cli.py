"""What an SRE trial of ``cellctl`` hit: flags in either order, ``-f -``, tables that never cut
ids, tokens or URLs when not at a terminal (or with ``-o wide``), and named contexts."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cli.client import discover
from cli.main import reorder
from cli.output import Format, emit
from tests.support.devup import CELLCTL


def test_root_flags_after_the_subcommand_and_output_before_it_are_reordered() -> None:
    """``--control-plane``/``--token``/``--context`` go before the subcommand, ``-o`` after it."""
    assert reorder(["cells", "list", "--control-plane", "http://cp", "-o", "json"]) == [
        "--control-plane", "http://cp", "cells", "list", "-o", "json"]
    assert reorder(["-o", "yaml", "--context=prod", "cells", "show", "eu-1", "--token", "t"]) == [
        "--context=prod", "--token", "t", "cells", "show", "eu-1", "-o", "yaml"]
    assert reorder(["-ojson", "cells", "list"]) == ["cells", "list", "-ojson"]


def _cellctl(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CELLCHAT_", "CELLCTL_"))}
    return subprocess.run([*CELLCTL, *args], input=stdin, capture_output=True, text=True,
                          env={**base, **(env or {})}, timeout=60, cwd="/")


def test_global_flags_work_after_the_subcommand() -> None:
    """``cellctl cells list --control-plane URL`` reaches that URL (here: nothing listens, exit 7)."""
    done = _cellctl("cells", "list", "--control-plane", "http://127.0.0.1:9", "-o", "json")
    assert (done.returncode, "http://127.0.0.1:9 (from --control-plane)" in done.stderr) == (7, True)
    before = _cellctl("-o", "json", "--control-plane", "http://127.0.0.1:9", "cells", "list")
    assert before.returncode == 7, before.stderr


def test_apply_reads_the_inventory_from_standard_input() -> None:
    """``-f -`` reads standard input; a bad inventory there is refused naming <stdin> and the line."""
    done = _cellctl("cells", "apply", "-f", "-", "--dry-run", stdin="version: 1\ncells:\n  - name: Bad\n")
    assert done.returncode == 5, done.stderr
    assert "<stdin>:3: cells[0].name" in done.stderr and "[a-z]" in done.stderr, done.stderr


def test_tables_keep_long_values_whole_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """Piped, a table row is one line with the whole token, URL and id, however long."""
    token = "xoxb-" + "7" * 150
    url = "https://eu-2.cells.example.com/" + "a" * 80
    emit([{"id": "T0123456789ABCDEF", "token": token, "url": url}], Format.table,
         columns=[("id", "ID"), ("token", "TOKEN"), ("url", "URL")])
    lines = capsys.readouterr().out.splitlines()
    (row,) = [line for line in lines if "T0123456789ABCDEF" in line]
    assert token in row and url in row


def test_named_contexts_choose_the_control_plane_and_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``config set-context`` writes a context; ``--context`` (or the current one) picks its URL and
    reads its token from the named variable, never from the config file itself."""
    config = tmp_path / "cellctl.yaml"
    env = {"CELLCTL_CONFIG": str(config)}
    for name, url in (("prod-eu", "https://cp.eu.example.com"), ("staging", "https://cp.staging.example.com")):
        made = _cellctl("config", "set-context", name, "--server", url, "--token-env", f"{name.upper()}_TOKEN".replace("-", "_"), env=env)
        assert made.returncode == 0, made.stderr
    listed = _cellctl("config", "get-contexts", env=env)
    assert "prod-eu" in listed.stdout and "https://cp.staging.example.com" in listed.stdout
    assert _cellctl("config", "use-context", "staging", env=env).returncode == 0
    assert "token" not in config.read_text().replace("token-env", "")
    monkeypatch.setenv("CELLCTL_CONFIG", str(config))
    monkeypatch.setenv("PROD_EU_TOKEN", "secret-eu")
    monkeypatch.setenv("STAGING_TOKEN", "secret-staging")
    monkeypatch.delenv("CELLCHAT_CONTROL_PLANE_URL", raising=False)
    monkeypatch.delenv("CELLCHAT_CONTROL_PLANE_TOKEN", raising=False)
    chosen = discover(None, None, folder=tmp_path, context="prod-eu")
    current = discover(None, None, folder=tmp_path)
    assert (chosen.url, chosen.token, current.url, current.token) == (
        "https://cp.eu.example.com", "secret-eu", "https://cp.staging.example.com", "secret-staging")
