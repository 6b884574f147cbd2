"""The cell's object store: one small interface over obstore's local-filesystem and S3 stores.

Keys are ``/``-separated and always start with ``ws/<workspace id>/`` for a workspace's
objects, so that a workspace's bytes can be listed, copied and deleted as a unit:

    ws/<W>/sha256/<hex>            a file's content, once per distinct content per workspace
    ws/<W>/thumbs/<hex>/<size>     a thumbnail of that content (64, 360, 720)
    ws/<W>/uploads/<file id>       an upload still arriving (staging; renamed or deleted)

Writes are atomic (a reader sees a whole object or none); ``put`` streams (the S3
backend uses multipart uploads, the local one a temporary file and a rename), and
``get`` streams, optionally a byte range.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

import obstore
from obstore.store import LocalStore, S3Store

from cell.settings import StorageSettings

CHUNK = 1024 * 1024  # the size of the pieces a download is streamed in
PIECE = 1024 * 1024  # the size of the pieces an upload is handed to the store in
PART = 8 * 1024 * 1024  # the S3 multipart part size (and the threshold for multipart)


def content_key(workspace_id: str, sha256: str) -> str:
    return f"ws/{workspace_id}/sha256/{sha256}"


def thumb_key(workspace_id: str, sha256: str, size: int) -> str:
    return f"ws/{workspace_id}/thumbs/{sha256}/{size}"


def staging_key(workspace_id: str, file_id: str) -> str:
    return f"ws/{workspace_id}/uploads/{file_id}"


def workspace_prefix(workspace_id: str) -> str:
    return f"ws/{workspace_id}/"


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int


@dataclass(slots=True)
class Download:
    """An object being read: its total ``size``, the served ``start``/``end`` (end exclusive)."""

    size: int
    start: int
    end: int
    chunks: AsyncIterator[bytes]


class Storage:
    """An object store. Both backends behave the same (tests/cell/test_files_storage.py)."""

    def __init__(self, store: Any, name: str) -> None:
        self._store = store
        self.name = name

    @property
    def raw(self) -> Storage:
        """The bytes as stored (``cell.storage.envelope.EncryptedStorage`` seals them; moves copy
        the sealed bytes as they are)."""
        return self

    def forget(self, workspace_id: str) -> None:
        """Drop what this process keeps of a workspace's data key (nothing, unsealed)."""

    async def put(self, key: str, chunks: AsyncIterable[bytes] | bytes) -> None:
        """Write an object whole (atomically), replacing any object at ``key``."""
        await obstore.put_async(self._store, key, chunks, chunk_size=PART, max_concurrency=2)

    async def head(self, key: str) -> int | None:
        """The object's size, or None when there is none."""
        try:
            meta = await obstore.head_async(self._store, key)
        except FileNotFoundError:
            return None
        return int(meta["size"])

    async def get(self, key: str, start: int | None = None, end: int | None = None) -> Download:
        """Stream an object, or the bytes ``start <= i < end`` of it. ``FileNotFoundError`` if absent."""
        options: Any = {}
        if start is not None:
            options = {"range": (start, end)} if end is not None else {"range": {"offset": start}}
        result = await obstore.get_async(self._store, key, options=options)
        size = int(result.meta["size"])
        first, last = result.range

        async def chunks() -> AsyncIterator[bytes]:
            async for chunk in result.stream(min_chunk_size=CHUNK):
                yield bytes(chunk)

        return Download(size, int(first), int(last), chunks())

    async def read(self, key: str) -> bytes:
        """A (small) object whole: thumbnails, images being previewed."""
        result = await obstore.get_async(self._store, key)
        return bytes(await result.bytes_async())

    async def rename(self, source: str, target: str) -> None:
        """Move an object to ``target``, replacing what is there (same content, for content keys)."""
        await obstore.rename_async(self._store, source, target, overwrite=True)

    async def delete(self, keys: list[str]) -> None:
        """Delete objects; keys that do not exist are ignored."""
        for key in keys:
            try:
                await obstore.delete_async(self._store, key)
            except FileNotFoundError:
                pass

    async def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object under ``prefix`` (a folder-like prefix ending in ``/``), sorted by key."""
        found: list[ObjectInfo] = []
        async for batch in obstore.list(self._store, prefix.rstrip("/")):
            found.extend(ObjectInfo(str(meta["path"]), int(meta["size"])) for meta in batch)
        return sorted(found, key=lambda info: info.key)

    async def sha256(self, key: str) -> str:
        """The hex sha256 of an object's bytes, read as a stream."""
        digest = hashlib.sha256()
        download = await self.get(key)
        async for chunk in download.chunks:
            digest.update(chunk)
        return digest.hexdigest()


def open_storage(settings: StorageSettings) -> Storage:
    """The store ``settings`` describe; creates the local folder. No network I/O."""
    if settings.backend == "s3":
        config: dict[str, Any] = {"region": settings.region}
        if settings.endpoint:
            config["endpoint"] = settings.endpoint
        if settings.access_key_id is not None and settings.secret_access_key is not None:
            config["access_key_id"] = settings.access_key_id.get_secret_value()
            config["secret_access_key"] = settings.secret_access_key.get_secret_value()
        store = S3Store(settings.bucket, prefix=settings.prefix or None, allow_http=settings.allow_http,
                        **config)
        return Storage(store, f"s3://{settings.bucket}/{settings.prefix}")
    root = settings.root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    return Storage(LocalStore(root, automatic_cleanup=True), f"file://{root}")
