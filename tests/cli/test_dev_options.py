"""``cellctl dev up`` refuses a bad ``--cell-env`` before starting anything."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli.exits import Exit
from cli.main import app


@pytest.mark.parametrize(("value", "says"), [
    ("RATE_LIMITS__ENABLD=false", "no such cell setting"),
    ("RATE_LIMITS__ENABLED", "expected KEY=VALUE"),
    ("CELLCHAT_DATABASE__DSN=postgresql://elsewhere/db", "not settable"),
    ("REALTIME__SEND_QUEUE_MAX=many", "valid integer"),
])
def test_bad_cell_env_is_refused(value: str, says: str) -> None:
    """A misspelt, malformed, managed or ill-typed setting exits 2 with the reason, and nothing starts."""
    result = CliRunner().invoke(app, ["dev", "up", "--free-ports", "--cell-env", value], env={"COLUMNS": "200"})
    assert (Exit.USAGE, True) == (result.exit_code, says in result.stderr)


def test_cell_env_is_documented() -> None:
    """``dev up --help`` documents --cell-env."""
    result = CliRunner().invoke(app, ["dev", "up", "--help"], env={"COLUMNS": "200"})
    assert "--cell-env" in result.stdout
