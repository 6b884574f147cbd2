"""A workspace with files moves between cells: its objects are copied and verified before the switch,
every file downloads from the new cell with identical bytes, and gc empties the old cell's store."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from slack_sdk import WebClient

from cell.embedded import EmbeddedRedis
from cell.previews import preview_file
from cell.storage import open_storage
from cell.store.db import Database
from tests.support.cells import ADMIN_TOKEN
from tests.support.infra import Infra
from tests.support.moves import Server, Stack, stack
from tests.support.router import running_router


@dataclass
class Moved:
    running: Stack
    router_api: str
    token: str
    workspace: str
    files: dict[str, bytes]  # file id -> the bytes uploaded
    migration: dict[str, Any]


def objects(cell_url: str, workspace: str) -> dict[str, Any]:
    answer = httpx.get(f"{cell_url}/v1/control/workspaces/{workspace}/objects",
                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert answer["ok"], answer
    return answer


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 200), (0, 90, 40)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def moved(infra: Infra, move_servers: list[Server], move_caches: list[EmbeddedRedis]) -> Iterator[Moved]:
    with stack(infra, [("us-1", "us", move_servers[0], move_caches[0]),
                       ("us-2", "us", move_servers[1], move_caches[1])]) as running, \
            running_router(running.control_plane.url,
                           Path(tempfile.mkdtemp(prefix="cellchat-router-")) / "routes.json") as router:
        cp = running.control_plane
        made = cp.create_workspace("us")
        workspace, token = made["workspace"]["id"], made["token"]
        client = WebClient(token=token, base_url=router.api)
        uploads = {"big.bin": os.urandom(3 * 1024 * 1024), "notes.txt": b"moving day\n", "again.txt": b"moving day\n",
                   "photo.png": png()}
        files = {client.files_upload_v2(channel=made["general"], content=data, filename=name)["file"]["id"]: data
                 for name, data in uploads.items()}
        photo = next(f for f, data in files.items() if data == uploads["photo.png"])
        source = running.cells["us-1"].running
        # The cells' workers make the thumbnails (they move too); made here at once if not yet done.
        asyncio.run(_preview(source.settings, workspace, photo))
        assert "thumb_360" in client.files_info(file=photo)["file"]
        migration = cp.wait_for(cp.move(workspace, "us-2")["id"])
        yield Moved(running, router.api, token, workspace, files, migration)


async def _preview(settings: Any, workspace: str, file_id: str) -> None:
    db = Database(settings.database.dsn, min_size=1, max_size=2)
    await db.open()
    try:
        await preview_file(db, open_storage(settings.storage), settings.files, workspace, file_id)
    finally:
        await db.close()


def test_the_move_copies_and_verifies_the_objects(moved: Moved) -> None:
    """The move is done; it copied every object (three contents, three thumbnails) before the freeze."""
    copied = moved.migration["progress"]["objects"]
    assert (moved.migration["status"], copied["count"], copied["copied"]) == ("done", 6, 6)


def test_every_file_downloads_from_the_new_cell_with_identical_bytes(moved: Moved) -> None:
    """Through the router (now pointing at us-2), each file's url_private_download gives its exact bytes,
    and its thumbnails are there."""
    client = WebClient(token=moved.token, base_url=moved.router_api)
    seen = {}
    for file_id in moved.files:
        info = client.files_info(file=file_id)["file"]
        answer = httpx.get(info["url_private_download"], headers={"Authorization": f"Bearer {moved.token}"})
        seen[file_id] = hashlib.sha256(answer.content).hexdigest()
        if "thumb_360" in info:
            assert httpx.get(info["thumb_360"]).status_code == 200
    assert seen == {f: hashlib.sha256(data).hexdigest() for f, data in moved.files.items()}
    assert objects(moved.running.cells["us-2"].url, moved.workspace)["count"] == 6


def test_gc_empties_the_old_cells_store(moved: Moved) -> None:
    """migrations gc deletes the old copy's rows and its file objects; the new cell keeps its own."""
    collected = moved.running.control_plane.ok("POST", "/v1/migrations/gc", json={"grace_seconds": 0})
    outcomes = [c["outcome"] for c in collected["collected"] if c["workspace"] == moved.workspace]
    assert outcomes and outcomes[0].endswith("and 6 file objects")
    assert objects(moved.running.cells["us-1"].url, moved.workspace)["count"] == 0
    assert objects(moved.running.cells["us-2"].url, moved.workspace)["count"] == 6
