"""Apps for tests: created through the cell's own ``/v1`` endpoints (docs/integrations.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.cells import ADMIN_TOKEN, RunningCell, Workspace


@dataclass
class MadeApp:
    id: str
    bot_user_id: str
    bot_id: str
    signing_secret: str
    bot_token: str
    app_token: str
    user_token: str | None
    answer: dict[str, Any]


def admin_call(cell: RunningCell, path: str, body: dict[str, Any] | None = None, *, token: str = ADMIN_TOKEN,
               method: str = "POST") -> dict[str, Any]:
    """The JSON answer of a ``/v1`` call (``ok`` true or not)."""
    response = httpx.request(method, f"{cell.url}{path}", json=body if method == "POST" else None,
                             headers={"Authorization": f"Bearer {token}"})
    answer: dict[str, Any] = response.json()
    return answer


def make_app(cell: RunningCell, ws: Workspace, name: str, bot_scopes: list[str],
             user_scopes: list[str] | None = None, *, installer: str | None = None) -> MadeApp:
    body: dict[str, Any] = {"name": name, "bot_scopes": bot_scopes}
    if user_scopes:
        body["user_scopes"] = user_scopes
        body["installer"] = installer or ws.owner.id
    answer = admin_call(cell, f"/v1/workspaces/{ws.id}/apps", body)
    assert answer["ok"], answer
    app = answer["app"]
    return MadeApp(app["id"], app["bot_user_id"], app["bot_id"], app["signing_secret"], answer["bot_token"],
                   answer["app_token"], answer.get("user_token"), answer)
