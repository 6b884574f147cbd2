"""Limits and bad input of the upload flow: precise Slack errors, and nothing half-written."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis.asyncio as aioredis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from cell.actions import files
from cell.storage import open_storage
from cell.store.db import Database
from tests.support.cells import RunningCell, running_cell
from tests.support.infra import Infra


@pytest.fixture(scope="module")
def small_cell(infra: Infra) -> Iterator[RunningCell]:
    """Files of at most 1000 bytes, 2500 stored bytes per workspace."""
    with running_cell(infra, files={"max_file_bytes": 1000, "workspace_quota_bytes": 2500}) as running:
        yield running


def web(cell: RunningCell, token: str) -> WebClient:
    return WebClient(token=token, base_url=cell.api)


def error_of(call: Any) -> str:
    with pytest.raises(SlackApiError) as refused:
        call()
    return str(refused.value.response["error"])


def stored(cell: RunningCell, workspace_id: str) -> list[str]:
    root = cell.settings.storage.root
    return sorted(str(p.relative_to(root)) for p in (root / "ws" / workspace_id).rglob("*") if p.is_file())


def file_rows(cell: RunningCell, workspace_id: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(cell.dsn) as conn:
        return conn.execute("SELECT file_id, state FROM files WHERE workspace_id = %s ORDER BY 1",
                            (workspace_id,)).fetchall()


@pytest.mark.parametrize("name", ["a/b.txt", "a\\b.txt", "nul\x00.txt", "x" * 1000, "", ".."])
def test_bad_filenames_are_invalid_arguments(small_cell: RunningCell, name: str) -> None:
    """Path separators, NUL, 1,000 characters, empty or dot names: invalid_arguments, no file."""
    ws = small_cell.workspace()
    assert error_of(lambda: web(small_cell, ws.owner.token).files_getUploadURLExternal(
        filename=name, length=5)) == "invalid_arguments"
    assert file_rows(small_cell, ws.id) == []


def test_size_limit_quota_and_length(small_cell: RunningCell) -> None:
    """Over the per-file limit: file_too_large; a zero length: invalid_length; past the workspace
    quota (pending uploads count): storage_limit_reached."""
    ws = small_cell.workspace()
    client = web(small_cell, ws.owner.token)
    assert error_of(lambda: client.files_getUploadURLExternal(filename="big", length=1001)) == "file_too_large"
    assert error_of(lambda: client.files_getUploadURLExternal(filename="none", length=0)) == "invalid_length"
    client.files_getUploadURLExternal(filename="a", length=1000)
    client.files_getUploadURLExternal(filename="b", length=1000)
    assert error_of(lambda: client.files_getUploadURLExternal(filename="c", length=1000)) == "storage_limit_reached"


def test_more_or_fewer_bytes_than_declared_are_refused_and_leave_nothing(small_cell: RunningCell) -> None:
    """More bytes than the declared length: 413; fewer: 400 invalid_length. Neither leaves an
    object behind, and the URL may then be used with the right bytes."""
    ws = small_cell.workspace()
    client = web(small_cell, ws.owner.token)
    upload = client.files_getUploadURLExternal(filename="exact.txt", length=10)
    too_many = httpx.post(upload["upload_url"], content=b"x" * 11)
    too_few = httpx.post(upload["upload_url"], content=b"x" * 9)
    assert [(r.status_code, r.json()["error"]) for r in (too_many, too_few)] == [
        (413, "file_too_large"), (400, "invalid_length")]
    assert stored(small_cell, ws.id) == []
    assert httpx.post(upload["upload_url"], content=b"x" * 10).status_code == 200
    assert len(stored(small_cell, ws.id)) == 1


def test_completing_unknown_pending_or_completed_files(small_cell: RunningCell) -> None:
    """completeUploadExternal: an unknown id is file_not_found, bytes not yet sent file_uploading,
    a second completion invalid_arguments, and a failed call completes none of its files."""
    ws = small_cell.workspace()
    client = web(small_cell, ws.owner.token)
    assert error_of(lambda: client.files_completeUploadExternal(files=[{"id": "FNOSUCHFILE1"}])) == "file_not_found"
    pending = client.files_getUploadURLExternal(filename="p.txt", length=2)
    assert error_of(lambda: client.files_completeUploadExternal(files=[{"id": pending["file_id"]}])) == "file_uploading"
    done = client.files_upload_v2(content=b"ok", filename="ok.txt")["file"]["id"]
    assert error_of(lambda: client.files_completeUploadExternal(files=[{"id": done}])) == "invalid_arguments"
    httpx.post(pending["upload_url"], content=b"hi")
    assert error_of(lambda: client.files_completeUploadExternal(
        files=[{"id": pending["file_id"]}], channel_id="CNOSUCHCHAN1")) == "channel_not_found"
    assert dict(file_rows(small_cell, ws.id))[pending["file_id"]] == "uploaded"


def test_abandoned_uploads_are_cleaned_up(small_cell: RunningCell) -> None:
    """Uploads never completed, with or without their bytes, go once their URL is long expired:
    rows, staging and content objects alike; completed files stay."""
    ws = small_cell.workspace()
    client = web(small_cell, ws.owner.token)
    client.files_getUploadURLExternal(filename="never.txt", length=5)
    sent = client.files_getUploadURLExternal(filename="sent.txt", length=5)
    httpx.post(sent["upload_url"], content=b"bytes")
    kept = client.files_upload_v2(content=b"kept", filename="kept.txt")["file"]["id"]

    async def clean() -> int:
        settings = small_cell.settings
        db = Database(settings.database.dsn, min_size=1, max_size=2)
        redis = aioredis.Redis.from_url(settings.redis.url, decode_responses=True)
        await db.open()
        try:
            ctx = files.FileContext(db, open_storage(settings.storage), redis, settings)
            return await files.clean_up(ctx, grace_seconds=-3600)  # as if an hour had passed
        finally:
            await db.close()
            await redis.aclose()

    assert asyncio.run(clean()) >= 2
    assert file_rows(small_cell, ws.id) == [(kept, "complete")]
    assert [Path(key).parts[2] for key in stored(small_cell, ws.id)] == ["sha256"]
