"""Registering the push devices of the caller (docs/notifications.md, "Devices").

Bad input is refused with a precise error and changes nothing: an ``app_id`` that is not a
reverse-DNS-like name, an empty or oversized ``pushkey``, a gateway URL that is not https
(``notify.allow_http_gateways`` admits http for tests and development), carries credentials
or has no host, and more than ``notify.max_devices_per_user`` devices.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from cell.actions.auth import Actor
from cell.errors import CellError
from cell.notify.gateway import bad_gateway_url
from cell.settings import NotifySettings
from cell.store import notifications as store
from cell.store.db import Database

_APP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_PUSHKEY = 512
MAX_NAME = 100


def _device(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["device_id"], "app_id": row["app_id"], "pushkey": row["pushkey"],
            "url": row["gateway_url"], "device_name": row["device_name"],
            "created": int(row["created_at"].timestamp())}


async def register(db: Database, settings: NotifySettings, actor: Actor, *, app_id: str, pushkey: str,
                   url: str, device_name: str) -> dict[str, Any]:
    """Register (or move to the caller) the device ``(app_id, pushkey)``; its description."""
    if not _APP_ID.match(app_id):
        raise CellError("invalid_app_id", detail="app_id must be 1-64 letters, digits, '.', '_' or '-'")
    if not pushkey or len(pushkey) > MAX_PUSHKEY or any(c.isspace() for c in pushkey):
        raise CellError("invalid_pushkey", detail=f"pushkey must be 1-{MAX_PUSHKEY} characters without spaces")
    why = bad_gateway_url(url, allow_http=settings.allow_http_gateways)
    if why is not None:
        raise CellError("invalid_url", detail=f"the push gateway url {why}")
    if len(device_name) > MAX_NAME:
        raise CellError("invalid_arguments", detail=f"device_name is longer than {MAX_NAME} characters")
    async with db.transaction() as conn:
        if await store.count_devices(conn, actor.workspace_id, actor.user_id) >= settings.max_devices_per_user:
            mine = {d["pushkey"] for d in await store.devices_of(conn, actor.workspace_id, [actor.user_id])
                    if d["app_id"] == app_id}
            if pushkey not in mine:
                raise CellError("too_many_devices",
                                detail=f"no more than {settings.max_devices_per_user} devices per person")
        row = await store.upsert_device(conn, actor.workspace_id, "PD" + secrets.token_hex(8).upper(),
                                        actor.user_id, app_id, pushkey, url, device_name)
    return _device(row)


async def unregister(db: Database, actor: Actor, device_id: str) -> None:
    """Remove one of the caller's devices (``device_not_found`` otherwise)."""
    async with db.transaction() as conn:
        if not await store.delete_device(conn, actor.workspace_id, actor.user_id, device_id):
            raise CellError("device_not_found")


async def listing(db: Database, actor: Actor) -> list[dict[str, Any]]:
    async with db.read() as conn:
        return [_device(r) for r in await store.devices_of(conn, actor.workspace_id, [actor.user_id])]
