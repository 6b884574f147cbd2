"""What the conversation tests share: slack_sdk clients on a real cell, the Slack error a call
fails with, and the outbox rows it wrote (read straight from the cell's database)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.support.cells import Person, RunningCell


def slack_error(call: Callable[..., Any], **kwargs: Any) -> str:
    """The Slack error code a call fails with (it must fail)."""
    with pytest.raises(SlackApiError) as info:
        call(**kwargs)
    error: str = info.value.response["error"]
    return error


def client(cell: RunningCell, person: Person) -> WebClient:
    return WebClient(token=person.token, base_url=cell.api)


def outbox_after(cell: RunningCell, workspace_id: str, after: int = 0) -> list[tuple[str | None, str, dict[str, Any]]]:
    """``(topic, event_type, payload)`` of the workspace's outbox rows with id > ``after``."""
    with psycopg.connect(cell.dsn) as conn:
        rows = conn.execute(
            "SELECT channel_id, event_type, payload FROM outbox WHERE workspace_id = %s AND id > %s ORDER BY id",
            (workspace_id, after),
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def outbox_position(cell: RunningCell) -> int:
    """The newest outbox id of the cell (0 when empty): pass it to ``outbox_after`` later."""
    with psycopg.connect(cell.dsn) as conn:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()
    assert row is not None
    return int(row[0])
