"""Real servers for the test suite: one embedded Postgres and Redis per session.

Each test gets its own database cloned from a migrated template (milliseconds),
and a flushed Redis.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

from cell.embedded import EmbeddedPostgres, EmbeddedRedis
from cell.store import databases, migrate

TEMPLATE = "cell_template"


@dataclass
class Infra:
    postgres: EmbeddedPostgres
    redis: EmbeddedRedis
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def fresh_database(self) -> tuple[str, str]:
        """A new database cloned from the template: ``(name, dsn)``."""
        name = f"t{os.getpid()}_{next(self._counter)}"
        databases.create(self.postgres.dsn(), name, template=TEMPLATE)
        return name, self.postgres.dsn(name)

    def drop_database(self, name: str) -> None:
        databases.drop(self.postgres.dsn(), name)


def start(base: Path) -> Infra:
    postgres = EmbeddedPostgres(base / "pg", durable=False)
    redis = EmbeddedRedis(base / "redis")
    postgres.start()
    try:
        redis.start()
        databases.drop(postgres.dsn(), TEMPLATE)
        databases.create(postgres.dsn(), TEMPLATE)
        migrate.apply_all(postgres.dsn(TEMPLATE))
    except BaseException:
        postgres.stop()
        redis.stop()
        raise
    return Infra(postgres, redis)
