"""Composition root of a cell process: one Starlette app per role, on top of everything else.

Every role (``all``, ``api``, ``gateway``, ``relay``, ``worker``) is built here,
through :func:`cell.bootstrap.build`, and serves ``/livez``, ``/readyz`` and
``/metrics`` (:mod:`cell.probes`) beside what the role itself offers::

    cell.server  ->  cell.app  ->  cell.roles  ->  cell.gateway / cell.relay / cell.worker
                               ->  cell.api                  \\->  cell.realtime, cell.store, cell.domain
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg_pool import PoolTimeout
from starlette.applications import Starlette

from cell import bootstrap, metrics, probes, roles, telemetry
from cell.api import app as api
from cell.domain import tokens
from cell.settings import CellSettings
from cell.store import health, migrate


def create_app(settings: CellSettings, *, role: str = "all") -> Starlette:
    """The app of one cell process; ``role`` picks its parts (:mod:`cell.roles`).

    Refuses (``SystemExit``) a published default admin token unless ``settings.dev``.
    """
    if not settings.dev and tokens.known_default(settings.admin_token.get_secret_value()):
        raise SystemExit("refusing to start: CELLCHAT_ADMIN_TOKEN is unset or a published default; "
                         "set a secret of your own (or CELLCHAT_DEV=true on a development machine)")
    running = roles.parts(role)
    services = bootstrap.build(settings)
    runtime = roles.Runtime(services, running)
    expected_schema = len(migrate.load())

    async def readiness() -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            version = await health.schema_version(services.db)
        except (psycopg.Error, PoolTimeout) as exc:
            checks["database"] = f"unavailable ({type(exc).__name__})"
        else:
            checks["database"] = "ok"
            # Newer is fine: migrations are additive, and a rolling deploy migrates before old pods go.
            checks["schema"] = "ok" if version is not None and version >= expected_schema else (
                f"at version {version or 0}, this code needs {expected_schema}")
        checks.update(runtime.checks())
        return checks

    sampler = telemetry.Sampler(services.redis, services.db if "relay" in running else None)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await services.open()
        try:
            await runtime.start()
            for part in running:
                metrics.ROLE.labels(part).set(1)
            telemetry.process(role, settings.name, settings.region)
            telemetry.watch_pool("cell", services.db.pool)
            if runtime.gateway is not None:
                telemetry.watch_gateway(runtime.gateway)
            sampler.start()
            try:
                yield
            finally:
                await sampler.stop()
                await runtime.stop()
        finally:
            await services.close()

    app = Starlette(
        routes=[
            *probes.routes,
            *(api.routes() if "api" in running else api.health_routes),
            *runtime.routes,
        ],
        lifespan=lifespan,
        middleware=api.middleware,
        exception_handlers=api.exception_handlers,
    )
    app.router.redirect_slashes = False  # a redirect has no envelope: an unknown path is a JSON 404
    app.state.services = services
    app.state.runtime = runtime
    app.state.readiness = readiness
    return app
