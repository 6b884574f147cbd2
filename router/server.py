"""``python -m router.server``: the router, configured from ``CELLCHAT_ROUTER_*``."""

from __future__ import annotations

import uvicorn
from pydantic import ValidationError

from cell import logs
from router.app import create_app
from router.settings import RouterSettings, SettingsError


def uvicorn_config(settings: RouterSettings, *, port: int | None = None) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings), host=settings.host, port=settings.port if port is None else port,
        log_level="warning", access_log=False, lifespan="on", log_config=None,
        # Push streams never end by themselves: cut them after this long so shutdown completes.
        timeout_graceful_shutdown=5,
        # Relayed answers carry the cell's own Date and Server headers: do not add a second pair.
        server_header=False,
        date_header=False,
    )


def main() -> None:
    logs.configure("router")
    try:
        config = uvicorn_config(RouterSettings())
    except (ValidationError, SettingsError) as exc:  # e.g. CELLCHAT_ROUTER_PROXY__CA_FILE names a missing file
        raise SystemExit(f"router: bad settings (CELLCHAT_ROUTER_*): {exc}") from None
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
