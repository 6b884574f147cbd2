"""Exports of a workspace in Slack's format: starting one, its state, its signed link, and the job.

The job (run by the worker, :mod:`cell.worker.exports`) writes one *part* object per
conversation (``ws/<W>/exports/<E>/parts/<C>``: that conversation's day files, framed),
recording after each one the conversation it reached; a job killed mid-way resumes after
the last part it recorded. Then it streams the archive (metadata files, the parts' day
files, the files' bytes) through a zip writer into ``ws/<W>/exports/<E>.zip`` in this cell's
object store, hashing it on the way, records the SHA-256 and deletes the parts. Nothing
holds more than one conversation-day of messages in memory.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from stream_zip import ZIP_AUTO, async_stream_zip

from cell.actions.files import signing_key
from cell.compliance import holds
from cell.domain import files as file_domain
from cell.domain import slack_export as fmt
from cell.domain.numbers import decimal
from cell.domain.ts import parse_ts
from cell.errors import CellError, SlackErrorCode
from cell.settings import CellSettings
from cell.storage import Download, Storage, content_key, workspace_prefix
from cell.store import directory
from cell.store import exports as store
from cell.store.db import Conn, Database

log = logging.getLogger(__name__)

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
PURPOSE = "export"

HELD = "~held"
"""The position after the held copies' parts (sorts after every conversation id)."""


def new_export_id() -> str:
    return "E" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def archive_key(workspace_id: str, export_id: str) -> str:
    return f"{workspace_prefix(workspace_id)}exports/{export_id}.zip"


def _parts_prefix(workspace_id: str, export_id: str) -> str:
    return f"{workspace_prefix(workspace_id)}exports/{export_id}/parts/"


def job_json(row: dict[str, Any]) -> dict[str, Any]:
    """An export as ``/v1`` shows it."""
    return {
        "id": row["export_id"], "workspace": row["workspace_id"], "compliance": row["compliance"],
        "requested_by": row["requested_by"], "state": row["state"],
        "conversations_total": row["conversations_total"], "conversations_done": row["conversations_done"],
        "messages_done": row["messages_done"], "files_done": row["files_done"], "attempts": row["attempts"],
        "size": row["size"], "sha256": row["sha256"], "error": row["error"],
        "created_at": row["created_at"].isoformat(),
        "started_at": row["started_at"].isoformat() if row["started_at"] else None,
        "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
    }


async def start(db: Database, workspace_id: str, *, compliance: bool, requested_by: str) -> dict[str, Any]:
    """Queue an export of a workspace this cell serves (``team_not_found`` otherwise)."""
    async with db.transaction() as conn:
        held = await directory.get_workspace(conn, workspace_id)
        if held is None or held["status"] != "active":
            raise CellError("team_not_found", detail=f"this cell does not serve {workspace_id}")
        return await store.insert(conn, workspace_id, new_export_id(), compliance=compliance,
                                  requested_by=requested_by)


async def get(db: Database, workspace_id: str, export_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        row = await store.get(conn, workspace_id, export_id)
    if row is None:
        raise CellError("export_not_found")
    return row


def link(settings: CellSettings, workspace_id: str, export_id: str, seconds: int) -> dict[str, Any]:
    """A signed path to the archive, valid for ``seconds``: anyone holding it may download it."""
    expires = int(time.time()) + seconds
    sig = file_domain.sign(signing_key(settings), PURPOSE, workspace_id, export_id, expires)
    return {"path": f"/v1/workspaces/{workspace_id}/exports/{export_id}/archive?exp={expires}&sig={sig}",
            "expires": expires}


async def open_archive(db: Database, storage: Storage, settings: CellSettings, workspace_id: str,
                       export_id: str, expires: str, sig: str) -> tuple[dict[str, Any], Download]:
    """The archive behind a signed link: ``link_expired`` past its time, ``invalid_signature`` when
    the link was not made for this workspace and export."""
    key = signing_key(settings)
    until = decimal(expires)
    if (until is None or not sig
            or not secrets.compare_digest(file_domain.sign(key, PURPOSE, workspace_id, export_id, until), sig)):
        raise _refused("invalid_signature", 403)
    if until < time.time():
        raise _refused("link_expired", 410)
    row = await get(db, workspace_id, export_id)
    if row["state"] != "complete":
        raise CellError("invalid_state", detail=f"the export is {row['state']}")
    return row, await storage.get(row["archive_key"])


def _refused(code: SlackErrorCode, status: int) -> CellError:
    error = CellError(code, detail="ask the control plane for a new link")
    error.status = status  # a download answers with a real HTTP status, not Slack's 200
    return error


# --- the job ------------------------------------------------------------------------------


class _Frames:
    """Reads back a part: ``<day> <length>\\n<json>`` records, from an object's chunks."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self.chunks = chunks
        self.buffer = b""

    async def _fill(self, n: int) -> bool:
        while len(self.buffer) < n:
            try:
                self.buffer += await anext(self.chunks)
            except StopAsyncIteration:
                return False
        return True

    async def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        while True:
            while b"\n" not in self.buffer:
                if not await self._fill(len(self.buffer) + 1):
                    if self.buffer:
                        raise ValueError("a part ends inside a record")
                    return
            header, _, self.buffer = self.buffer.partition(b"\n")
            day, _, length = header.decode().partition(" ")
            if not await self._fill(int(length)):
                raise ValueError("a part ends inside a record")
            payload, self.buffer = self.buffer[:int(length)], self.buffer[int(length):]
            yield day, payload


def _frame(day: str, messages: list[dict[str, Any]]) -> bytes:
    payload = orjson.dumps(messages, option=orjson.OPT_INDENT_2)
    return f"{day} {len(payload)}\n".encode() + payload


async def _write_part(db: Database, storage: Storage, job: dict[str, Any], conversation: dict[str, Any]) -> int:
    """Write one conversation's part (its day files); how many messages it holds."""
    workspace_id, channel_id = job["workspace_id"], conversation["channel_id"]
    count = 0

    async def records() -> AsyncIterator[bytes]:
        nonlocal count
        day: str | None = None
        batch: list[dict[str, Any]] = []
        async with db.transaction() as conn:
            async for row in store.messages(conn, workspace_id, channel_id):
                this_day = fmt.day_of(row["ts"])
                if batch and this_day != day:
                    yield _frame(day or this_day, batch)
                    batch = []
                day = this_day
                batch.append(fmt.message_json(row))
                count += 1
            if batch and day is not None:
                yield _frame(day, batch)

    await storage.put(_parts_prefix(workspace_id, job["export_id"]) + channel_id, records())
    return count


class _Peek:
    """An async iterator one can look ahead in by one item."""

    def __init__(self, items: AsyncIterator[tuple[str, dict[str, Any]]]) -> None:
        self.items = items
        self.head: tuple[str, dict[str, Any]] | None = None
        self.done = False

    async def peek(self) -> tuple[str, dict[str, Any]] | None:
        if self.head is None and not self.done:
            try:
                self.head = await anext(self.items)
            except StopAsyncIteration:
                self.done = True
        return self.head

    def take(self) -> None:
        self.head = None


async def _write_held_parts(db: Database, storage: Storage, job: dict[str, Any]) -> int:
    """A compliance export's kept copies (deleted-under-hold messages, edited-away texts), one
    ``<C>.held`` part per conversation, framed by day like the live parts; how many there are."""
    workspace_id = job["workspace_id"]
    copies = _Peek(holds.held_messages(db, workspace_id))
    count = 0
    while (first := await copies.peek()) is not None:
        channel_id = first[0]

        async def records(channel: str) -> AsyncIterator[bytes]:
            nonlocal count
            day: str | None = None
            batch: list[dict[str, Any]] = []
            while (item := await copies.peek()) is not None and item[0] == channel:
                copies.take()
                message = item[1]
                this_day = fmt.day_of(parse_ts(message["ts"]))
                if batch and this_day != day:
                    yield _frame(day or this_day, batch)
                    batch = []
                day = this_day
                batch.append(message)
                count += 1
            if batch and day is not None:
                yield _frame(day, batch)

        await storage.put(_parts_prefix(workspace_id, job["export_id"]) + channel_id + ".held", records(channel_id))
    return count


async def _days(storage: Storage, key: str) -> AsyncIterator[tuple[str, bytes]]:
    try:
        download = await storage.get(key)
    except FileNotFoundError:
        return
    async for day, payload in _Frames(download.chunks):
        yield day, payload


async def _merged(storage: Storage, live: str, held: str | None) -> AsyncIterator[tuple[str, bytes]]:
    """A conversation's day files; with ``held``, its kept copies merged into their days by ts."""
    if held is None:
        async for item in _days(storage, live):
            yield item
        return
    copies: dict[str, bytes] = {day: payload async for day, payload in _days(storage, held)}
    async for day, payload in _days(storage, live):
        for earlier in sorted(d for d in copies if d < day):
            yield earlier, copies.pop(earlier)
        if day in copies:
            merged = orjson.loads(payload) + orjson.loads(copies.pop(day))
            merged.sort(key=lambda m: (parse_ts(m["ts"]), "cellchat_hold" in m))
            payload = orjson.dumps(merged, option=orjson.OPT_INDENT_2)
        yield day, payload
    for day in sorted(copies):
        yield day, copies[day]


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _hashed(chunks: AsyncIterable[bytes], digest: Any, sizes: list[int]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        digest.update(chunk)
        sizes[0] += len(chunk)
        yield chunk


def _json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2)


async def _metadata(conn: Conn, workspace_id: str, conversations: list[dict[str, Any]],
                    held_files: list[dict[str, Any]] | None) -> dict[str, bytes]:
    people = await store.users(conn, workspace_id)
    owners = [p["user_id"] for p in people if p["is_owner"]]
    primary = owners[0] if owners else None
    files: dict[str, list[dict[str, Any]]] = {"public": [], "private": [], "im": [], "mpim": []}
    for conv in conversations:
        files[conv["kind"]].append(fmt.conversation_json(conv, list(conv["members"]), conv["pins"]))
    return {
        "users.json": _json([fmt.user_json(p, primary_owner=primary) for p in people]),
        "channels.json": _json(files["public"]),
        "groups.json": _json(files["private"]),
        "dms.json": _json(files["im"]),
        "mpims.json": _json(files["mpim"]),
        "integration_logs.json": _json({"logs": []}),
        **({"held_files.json": _json(held_files)} if held_files is not None else {}),
    }


async def _assemble(db: Database, storage: Storage, job: dict[str, Any], conversations: list[dict[str, Any]],
                    progress: Callable[[int], Awaitable[None]]) -> tuple[str, int, str]:
    workspace_id, export_id = job["workspace_id"], job["export_id"]
    modified = job["created_at"].astimezone(UTC).replace(tzinfo=None) if job["created_at"] else datetime.now()
    kept = await holds.held_files(db, workspace_id) if job["compliance"] else None
    async with db.read() as conn:
        metadata = await _metadata(conn, workspace_id, conversations, kept)
        live_files = await store.files(conn, workspace_id)
    all_files = live_files + [{"file_id": f["id"], "name": f["name"], "size": f["size"], "sha256": f["sha256"]}
                              for f in kept or [] if f["sha256"]]
    parts = _parts_prefix(workspace_id, export_id)

    async def members() -> AsyncIterator[tuple[str, datetime, int, Any, AsyncIterable[bytes]]]:
        for name in metadata:
            yield name, modified, 0o600, ZIP_AUTO(len(metadata[name])), _one(metadata[name])
        for conv in conversations:
            folder = fmt.folder_of(conv["kind"], conv["channel_id"], conv["name"])
            held = parts + conv["channel_id"] + ".held" if job["compliance"] else None
            async for day, payload in _merged(storage, parts + conv["channel_id"], held):
                yield f"{folder}/{day}.json", modified, 0o600, ZIP_AUTO(len(payload)), _one(payload)
        for done, file in enumerate(all_files, start=1):
            download = await storage.get(content_key(workspace_id, file["sha256"]))
            yield (fmt.upload_path(file["file_id"], file["name"]), modified, 0o600,
                   ZIP_AUTO(int(file["size"]), level=1), download.chunks)
            if done % 100 == 0:
                await progress(done)
        await progress(len(all_files))

    digest = hashlib.sha256()
    sizes = [0]
    key = archive_key(workspace_id, export_id)
    await storage.put(key, _hashed(async_stream_zip(members()), digest, sizes))
    return key, sizes[0], digest.hexdigest()


async def run(db: Database, storage: Storage, job: dict[str, Any]) -> dict[str, Any]:
    """Run (or resume) one export to completion; the finished job's row."""
    workspace_id, export_id = job["workspace_id"], job["export_id"]
    async with db.read() as conn:
        conversations = await store.conversations(conn, workspace_id)
    async with db.transaction() as conn:
        await store.started(conn, workspace_id, export_id, len(conversations))
    position = job["position"]
    for conv in conversations:
        if conv["channel_id"] <= position:
            continue  # its part was written before a restart
        count = await _write_part(db, storage, job, conv)
        async with db.transaction() as conn:
            await store.advanced(conn, workspace_id, export_id, position=conv["channel_id"], messages=count)
    if job["compliance"] and position < HELD:
        count = await _write_held_parts(db, storage, job)
        async with db.transaction() as conn:
            await store.advanced(conn, workspace_id, export_id, position=HELD, messages=count, conversation=False)

    async def files_progress(done: int) -> None:
        async with db.transaction() as conn:
            await store.files_written(conn, workspace_id, export_id, done)

    key, size, sha256 = await _assemble(db, storage, job, conversations, files_progress)
    async with db.transaction() as conn:
        await store.completed(conn, workspace_id, export_id, key=key, size=size, sha256=sha256)
    leftovers = await storage.list(_parts_prefix(workspace_id, export_id))
    await storage.delete([info.key for info in leftovers])
    log.info("export %s of %s complete: %d bytes, sha256 %s", export_id, workspace_id, size, sha256)
    return await get(db, workspace_id, export_id)


async def fail(db: Database, job: dict[str, Any], error: str) -> None:
    async with db.transaction() as conn:
        await store.failed(conn, job["workspace_id"], job["export_id"], error)
