"""Apps as the cell models them, and the Slack shapes of what they show. Pure.

An app belongs to one workspace. It has a bot user (``U…``, ``users.is_bot``) with a
``bot_id`` (``B…``), a signing secret, and the scopes it was installed with (bot scopes for
its bot token, user scopes for the user tokens of the people who installed it). Its tokens
live in ``tokens`` with its ``app_id`` (docs/integrations.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cell.domain.rows import AppRow


@dataclass(frozen=True, slots=True)
class App:
    workspace_id: str
    app_id: str
    name: str
    bot_user_id: str
    bot_id: str
    signing_secret: str
    bot_scopes: tuple[str, ...]
    user_scopes: tuple[str, ...]
    icon_url: str
    installed: bool
    created: int  # unix seconds
    updated: int

    @staticmethod
    def of_row(row: AppRow) -> App:
        return App(
            workspace_id=row["workspace_id"], app_id=row["app_id"], name=row["name"],
            bot_user_id=row["bot_user_id"], bot_id=row["bot_id"], signing_secret=row["signing_secret"],
            bot_scopes=tuple(row["bot_scopes"]), user_scopes=tuple(row["user_scopes"]),
            icon_url=row["icon_url"], installed=row["installed"], created=row["created"], updated=row["updated"],
        )


def icons(icon_url: str) -> dict[str, str]:
    """Slack's ``icons`` of a bot profile: the app's icon at each size (empty when it has none)."""
    return {"image_36": icon_url, "image_48": icon_url, "image_72": icon_url}


def bot_profile(workspace_id: str, app_id: str, bot_id: str, name: str, icon_url: str, updated: int,
                *, deleted: bool = False) -> dict[str, Any]:
    """The ``bot_profile`` Slack puts on a bot's messages."""
    return {"id": bot_id, "deleted": deleted, "name": name, "updated": updated, "app_id": app_id,
            "icons": icons(icon_url), "team_id": workspace_id}


def bot_fields(workspace_id: str, app_id: str, bot_id: str, name: str, icon_url: str,
               updated: int) -> dict[str, Any]:
    """What a message posted with an app's bot token carries besides ``user`` and ``bot_id``
    (stored in ``messages.bot``, merged into the message as is)."""
    return {"app_id": app_id, "bot_profile": bot_profile(workspace_id, app_id, bot_id, name, icon_url, updated)}


def bot_info(app: App, *, deleted: bool = False) -> dict[str, Any]:
    """``bots.info``'s ``bot``."""
    return {"id": app.bot_id, "deleted": deleted or not app.installed, "name": app.name,
            "updated": app.updated, "app_id": app.app_id, "user_id": app.bot_user_id,
            "icons": icons(app.icon_url)}
