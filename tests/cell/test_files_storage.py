"""The object store contract, run against both backends: the local filesystem and S3
(moto's standalone S3-compatible server: the one mock we accept, for a cloud service)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from slack_sdk import WebClient

from cell.settings import StorageSettings
from cell.storage import Storage, open_storage
from tests.support.cells import running_cell
from tests.support.infra import Infra

BUCKET = "cellchat-test"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket=BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()


def s3_settings(endpoint: str) -> dict[str, Any]:
    return {"backend": "s3", "bucket": BUCKET, "prefix": f"t-{uuid.uuid4().hex[:8]}", "endpoint": endpoint,
            "access_key_id": "test", "secret_access_key": "test", "allow_http": True}


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return open_storage(StorageSettings(root=tmp_path / "files"))
    endpoint = request.getfixturevalue("s3_endpoint")
    return open_storage(StorageSettings.model_validate(s3_settings(endpoint)))


async def pieces(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


def test_put_streams_and_get_reads_whole_or_a_range(store: Storage) -> None:
    """An object written from a stream reads back whole, as a range, and by size."""
    async def run() -> tuple[Any, ...]:
        await store.put("ws/T1/sha256/a", pieces(b"hello ", b"object ", b"store"))
        whole = await store.get("ws/T1/sha256/a")
        part = await store.get("ws/T1/sha256/a", 6, 12)
        return (await collect(whole.chunks), whole.size, await collect(part.chunks), part.start, part.end,
                await store.head("ws/T1/sha256/a"), await store.head("ws/T1/sha256/missing"))
    assert asyncio.run(run()) == (b"hello object store", 18, b"object", 6, 12, 18, None)


def test_a_failed_put_leaves_no_object(store: Storage) -> None:
    """A stream that fails midway writes nothing: no object, not even a partial one."""
    async def failing() -> AsyncIterator[bytes]:
        yield b"x" * 1024
        raise RuntimeError("client went away")

    async def run() -> int | None:
        with pytest.raises(Exception):  # noqa: B017 - obstore may wrap the stream's error
            await store.put("ws/T1/uploads/F1", failing())
        return await store.head("ws/T1/uploads/F1")
    assert asyncio.run(run()) is None


def test_rename_list_delete_and_hash(store: Storage) -> None:
    """rename moves an object, list shows a workspace's objects only, sha256 hashes the bytes,
    delete removes them (and ignores missing keys)."""
    async def run() -> tuple[Any, ...]:
        await store.put("ws/T1/uploads/F1", b"content")
        await store.put("ws/T2/sha256/b", b"other workspace")
        await store.rename("ws/T1/uploads/F1", "ws/T1/sha256/c")
        listed = [(o.key, o.size) for o in await store.list("ws/T1/")]
        digest = await store.sha256("ws/T1/sha256/c")
        await store.delete(["ws/T1/sha256/c", "ws/T1/sha256/never"])
        return listed, digest, await store.list("ws/T1/"), [o.key for o in await store.list("ws/T2/")]
    assert asyncio.run(run()) == ([("ws/T1/sha256/c", 7)], hashlib.sha256(b"content").hexdigest(), [],
                                  ["ws/T2/sha256/b"])


def test_a_cell_on_s3_serves_the_upload_flow(infra: Infra, s3_endpoint: str) -> None:
    """A cell configured for S3 takes files_upload_v2 and serves the download from the bucket."""
    with running_cell(infra, storage=s3_settings(s3_endpoint)) as cell:
        ws = cell.workspace()
        data = bytes(range(256)) * 100
        file = WebClient(token=ws.owner.token, base_url=cell.api).files_upload_v2(
            channel=ws.general, content=data, filename="s3.bin")["file"]
        answer = httpx.get(file["url_private_download"], headers={"Authorization": f"Bearer {ws.owner.token}",
                                                                  "Range": "bytes=256-511"})
    assert (answer.status_code, answer.content) == (206, data[256:512])
