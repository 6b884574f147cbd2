"""The migration runner and the schema it produces."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cell.store import databases, migrate
from tests.support.infra import Infra

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT_SCRIPT = ROOT / "scripts" / "schema-snapshot"
SNAPSHOT = ROOT / "cell" / "store" / "schema.sql"


def schema_of(dsn: str) -> str:
    """The normalised ``pg_dump --schema-only`` of a database (the snapshot script's own dump)."""
    result = subprocess.run(
        [sys.executable, str(SNAPSHOT_SCRIPT), "--dsn", dsn, "--stdout"],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


@pytest.fixture
def empty_dsn(infra: Infra, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database (not cloned from the migrated template)."""
    name = f"mig_{request.node.name}"[:60].lower()
    databases.drop(infra.postgres.dsn(), name)
    databases.create(infra.postgres.dsn(), name)
    try:
        yield infra.postgres.dsn(name)
    finally:
        databases.drop(infra.postgres.dsn(), name)


def test_migrated_database_equals_the_schema_snapshot(empty_dsn: str) -> None:
    """Applying every migration to an empty database yields exactly cell/store/schema.sql."""
    migrate.apply_all(empty_dsn)
    actual = schema_of(empty_dsn)
    expected = SNAPSHOT.read_text()
    assert expected == actual, (
        "the migrations and cell/store/schema.sql disagree: after adding or changing a migration, "
        "run `scripts/schema-snapshot` and commit cell/store/schema.sql with it"
    )


def test_every_migration_is_applied_once_in_order(empty_dsn: str) -> None:
    """A first run applies every migration file, in number order, and records each one."""
    expected = [m.name for m in migrate.load()]
    applied = migrate.apply_all(empty_dsn)
    with psycopg.connect(empty_dsn) as conn:
        recorded = [row[0] for row in conn.execute("SELECT name FROM schema_migrations ORDER BY version")]
    assert (expected, expected) == (applied, recorded)


def test_second_run_applies_nothing(empty_dsn: str) -> None:
    """Running the migrations again on a migrated database applies nothing."""
    migrate.apply_all(empty_dsn)
    assert [] == migrate.apply_all(empty_dsn)


def test_second_run_leaves_the_schema_unchanged(empty_dsn: str) -> None:
    """Running the migrations again leaves the dumped schema byte for byte the same."""
    migrate.apply_all(empty_dsn)
    before = schema_of(empty_dsn)
    migrate.apply_all(empty_dsn)
    assert before == schema_of(empty_dsn)


def test_gap_in_numbering_is_refused(empty_dsn: str, tmp_path: Path) -> None:
    """Migrations numbered 0001, 0003 (no 0002) are refused before anything is applied."""
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first_table (id integer PRIMARY KEY);")
    (tmp_path / "0003_third.sql").write_text("CREATE TABLE third_table (id integer PRIMARY KEY);")
    with pytest.raises(RuntimeError, match="without gaps"):
        migrate.apply_all(empty_dsn, tmp_path)
    with psycopg.connect(empty_dsn) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename IN ('first_table', 'third_table')"
        ).fetchone()
    assert (0,) == tables


def test_failing_migration_rolls_back_with_its_record(empty_dsn: str, tmp_path: Path) -> None:
    """A migration that fails leaves neither its changes nor its schema_migrations row."""
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first_table (id integer PRIMARY KEY);")
    (tmp_path / "0002_broken.sql").write_text(
        "CREATE TABLE second_table (id integer PRIMARY KEY); SELECT no_such_function();"
    )
    with pytest.raises(psycopg.errors.UndefinedFunction):
        migrate.apply_all(empty_dsn, tmp_path)
    with psycopg.connect(empty_dsn) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
        second = conn.execute("SELECT to_regclass('second_table') IS NOT NULL").fetchone()
    assert ([1], (False,)) == (versions, second)
