"""Files at rest encrypted with a per-workspace key (envelope encryption; docs/compliance.md).

Each workspace has a 256-bit **data key**, stored only wrapped (AES-256-GCM) by a **master key**
of the cell's key ring (``storage.master_keys``, the current one ``storage.master_key_id``); the
wrapped key is a tenant row (``workspace_keys``), so it moves with the workspace, and every cell of
a deployment holds the same key ring (a KMS plays that part in production). Destroying a
workspace's data key (or deleting its row, as a move's clean-up does) leaves whatever bytes of it
remain anywhere — a lagging replica, a backup, a bucket's old versions — unreadable:
crypto-shredding.

An encrypted object is ``MAGIC | 8-byte nonce prefix`` followed by chunks of ``CHUNK`` plaintext
bytes, each sealed with AES-GCM (nonce = prefix + chunk index; associated data = workspace id,
chunk index and whether it is the last chunk, so chunks cannot be reordered, swapped between
workspaces or cut off). Ranges decrypt only the chunks they touch. Objects without ``MAGIC``
(stored before encryption was turned on) are read as they are.
"""

from __future__ import annotations

import os
import struct
from collections.abc import AsyncIterable, AsyncIterator
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cell.storage import Download, ObjectInfo, Storage

MAGIC = b"CCE1"
HEADER = len(MAGIC) + 8
CHUNK = 64 * 1024
TAG = 16
SEALED = CHUNK + TAG


class KeyDestroyed(FileNotFoundError):
    """The workspace's data key was destroyed: its objects can never be read again."""


class DataKeys(Protocol):
    async def data_key(self, workspace_id: str, *, create: bool) -> bytes | None:
        """The workspace's data key (made when ``create`` and there is none; else None when
        there is none); ``KeyDestroyed`` once it was destroyed."""
        ...

    def forget(self, workspace_id: str) -> None:
        """Drop any cached copy of the workspace's key (it was just destroyed)."""
        ...


def wrap(master: bytes, workspace_id: str, data_key: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(master).encrypt(nonce, data_key, b"cellchat-data-key|" + workspace_id.encode())


def unwrap(master: bytes, workspace_id: str, wrapped: bytes) -> bytes:
    return AESGCM(master).decrypt(wrapped[:12], wrapped[12:], b"cellchat-data-key|" + workspace_id.encode())


def _workspace_of(key: str) -> str | None:
    parts = key.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "ws" else None


def _aad(workspace_id: str, index: int, last: bool) -> bytes:
    return workspace_id.encode() + struct.pack(">IB", index, 1 if last else 0)


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + struct.pack(">I", index)


def plaintext_size(stored: int) -> int:
    chunks = max(1, -(-(stored - HEADER) // SEALED))
    return stored - HEADER - chunks * TAG


class EncryptedStorage(Storage):
    """A ``Storage`` whose workspace objects are sealed with their workspace's data key.

    ``raw`` is the store underneath: moves copy and verify the sealed bytes as they are (the data
    key moves with the workspace's rows), so nothing is decrypted on the way.
    """

    def __init__(self, inner: Storage, keys: DataKeys) -> None:
        super().__init__(inner._store, inner.name)
        self.inner, self.keys = inner, keys

    @property
    def raw(self) -> Storage:
        return self.inner

    def forget(self, workspace_id: str) -> None:
        self.keys.forget(workspace_id)

    async def _key(self, key: str, *, create: bool) -> tuple[str, bytes] | None:
        workspace_id = _workspace_of(key)
        if workspace_id is None:
            return None
        data_key = await self.keys.data_key(workspace_id, create=create)
        return (workspace_id, data_key) if data_key is not None else None

    async def put(self, key: str, chunks: AsyncIterable[bytes] | bytes) -> None:
        found = await self._key(key, create=True)
        if found is None:
            await self.inner.put(key, chunks)
            return
        await self.inner.put(key, _seal(found[0], AESGCM(found[1]), chunks))

    async def _header(self, key: str) -> bytes:
        download = await self.inner.get(key, 0, HEADER)
        return b"".join([chunk async for chunk in download.chunks])

    async def head(self, key: str) -> int | None:
        size = await self.inner.head(key)
        if size is None or size < HEADER or not (await self._header(key)).startswith(MAGIC):
            return size
        return plaintext_size(size)

    async def get(self, key: str, start: int | None = None, end: int | None = None) -> Download:
        stored = await self.inner.head(key)
        if stored is None:
            raise FileNotFoundError(key)
        header = await self._header(key) if stored >= HEADER else b""
        if not header.startswith(MAGIC):
            return await self.inner.get(key, start, end)
        found = await self._key(key, create=False)
        if found is None:
            raise KeyDestroyed(key)
        workspace_id, data_key = found
        size = plaintext_size(stored)
        first = 0 if start is None else min(start, size)
        last = size if end is None else min(end, size)
        chunks = max(1, -(-(stored - HEADER) // SEALED))
        a, b = first // CHUNK, max(first, last - 1) // CHUNK
        raw = await self.inner.get(key, HEADER + a * SEALED, min(stored, HEADER + (b + 1) * SEALED))
        opened = _open(workspace_id, AESGCM(data_key), header[len(MAGIC):], raw.chunks, a, chunks)
        return Download(size, first, last, _slice(opened, first - a * CHUNK, last - first))

    async def read(self, key: str) -> bytes:
        download = await self.get(key)
        return b"".join([chunk async for chunk in download.chunks])

    async def rename(self, source: str, target: str) -> None:
        await self.inner.rename(source, target)

    async def delete(self, keys: list[str]) -> None:
        await self.inner.delete(keys)

    async def list(self, prefix: str) -> list[ObjectInfo]:
        return await self.inner.list(prefix)


async def _seal(workspace_id: str, aead: AESGCM, chunks: AsyncIterable[bytes] | bytes) -> AsyncIterator[bytes]:
    prefix = os.urandom(8)
    yield MAGIC + prefix
    buffer = bytearray()
    index = 0

    async def pieces() -> AsyncIterator[bytes]:
        if isinstance(chunks, bytes | bytearray | memoryview):
            yield bytes(chunks)
        else:
            async for piece in chunks:
                yield piece

    async for piece in pieces():
        buffer += piece
        while len(buffer) > CHUNK:  # more follows this chunk: not the last
            yield aead.encrypt(_nonce(prefix, index), bytes(buffer[:CHUNK]), _aad(workspace_id, index, False))
            del buffer[:CHUNK]
            index += 1
    yield aead.encrypt(_nonce(prefix, index), bytes(buffer), _aad(workspace_id, index, True))


async def _open(workspace_id: str, aead: AESGCM, prefix: bytes, sealed: AsyncIterator[bytes], index: int,
                chunks: int) -> AsyncIterator[bytes]:
    buffer = bytearray()

    def opened(piece: bytes, at: int) -> bytes:
        try:
            return aead.decrypt(_nonce(prefix, at), piece, _aad(workspace_id, at, at == chunks - 1))
        except InvalidTag as exc:
            raise OSError(f"a sealed chunk of {workspace_id} does not authenticate (altered, or another key)") from exc

    async for piece in sealed:
        buffer += piece
        while len(buffer) >= SEALED and (len(buffer) > SEALED or index < chunks - 1):
            yield opened(bytes(buffer[:SEALED]), index)
            del buffer[:SEALED]
            index += 1
    if buffer:
        yield opened(bytes(buffer), index)


async def _slice(chunks: AsyncIterator[bytes], skip: int, length: int) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        if skip >= len(chunk):
            skip -= len(chunk)
            continue
        piece = chunk[skip:skip + length]
        skip = 0
        length -= len(piece)
        if piece:
            yield piece
        if length <= 0:
            return
