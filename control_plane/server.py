"""``python -m control_plane.server``: migrate the catalog, then serve the control plane (``CELLCHAT_CP_*``)."""

from __future__ import annotations

import uvicorn

from cell import logs
from control_plane.api.app import create_app
from control_plane.settings import ControlPlaneSettings
from control_plane.store import migrate


def uvicorn_config(settings: ControlPlaneSettings, *, port: int | None = None) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings), host=settings.api.host, port=settings.api.port if port is None else port,
        log_level="warning", access_log=False, lifespan="on", log_config=None,
        # Push streams never end by themselves: cut them after this long so shutdown completes.
        timeout_graceful_shutdown=2,
        ssl_certfile=str(settings.api.tls_cert_file) if settings.api.tls_cert_file else None,
        ssl_keyfile=str(settings.api.tls_key_file) if settings.api.tls_key_file else None,
    )


def main() -> None:
    logs.configure("control-plane")
    settings = ControlPlaneSettings()
    if settings.database.migrate_on_start:
        migrate.apply_all(settings.database.dsn)
    uvicorn.Server(uvicorn_config(settings)).run()


if __name__ == "__main__":
    main()
