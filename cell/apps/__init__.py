"""Apps of a workspace: the model, lookups and lifecycle (docs/integrations.md).

The names here are a contract (the Events API, Socket Mode and slash commands build on
them): ``App``; ``app_by_id``, ``app_by_app_token``, ``app_by_bot_user``, ``app_by_bot_id``,
``apps_in_workspace``; ``create_app``, ``install``, ``uninstall``, ``rotate_token``,
``rotate_signing_secret``.
"""

from __future__ import annotations

from cell.apps.lifecycle import (
    Installed,
    create_app,
    install,
    rotate_signing_secret,
    rotate_token,
    uninstall,
)
from cell.apps.lookups import (
    app_by_app_token,
    app_by_bot_id,
    app_by_bot_user,
    app_by_id,
    app_by_id_in,
    apps_in_workspace,
)
from cell.domain.apps import App

__all__ = [
    "App",
    "Installed",
    "app_by_app_token",
    "app_by_bot_id",
    "app_by_bot_user",
    "app_by_id",
    "app_by_id_in",
    "apps_in_workspace",
    "create_app",
    "install",
    "rotate_signing_secret",
    "rotate_token",
    "uninstall",
]
