"""Files: Slack's external upload flow, sharing, reading, deleting, and the clean-up of uploads.

The flow (docs/files.md):

1. ``upload_url`` records a *pending* file and answers a signed, short-lived upload URL;
2. ``receive`` streams the bytes (no auth header: the URL is the credential) into a staging
   object while hashing them, refuses more bytes than declared, then moves them to their
   content address ``ws/<W>/sha256/<hex>`` and marks the file *uploaded*;
3. ``complete`` marks it *complete* and shares it (a message carrying it) or keeps it private.

The URL is single-use: a Redis claim guards the upload in flight, the file's state guards
it afterwards. Nothing half-written stays: a failed upload removes its staging object, and
``clean_up`` removes uploads abandoned before or after their bytes arrived.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cell import storage
from cell.actions import messages as message_actions
from cell.actions.access import visible_channel
from cell.actions.auth import Actor, check_workspace_status
from cell.domain import files as domain
from cell.domain import ids, names
from cell.domain.audience import Audience
from cell.errors import CellError, SlackErrorCode
from cell.settings import CellSettings
from cell.storage import Storage
from cell.store import directory, holds, outbox
from cell.store import files as store
from cell.store.db import Conn, Database

log = logging.getLogger(__name__)

Row = dict[str, Any]


def signing_key(settings: CellSettings) -> bytes:
    """The HMAC key of upload and download URLs (its own setting, else derived from the admin token)."""
    configured = settings.files.signing_key
    secret = configured.get_secret_value() if configured else "files:" + settings.admin_token.get_secret_value()
    return hashlib.sha256(secret.encode()).digest()


@dataclass(frozen=True, slots=True)
class FileContext:
    """What file actions need beyond the database."""

    db: Database
    storage: Storage
    redis: aioredis.Redis
    settings: CellSettings
    base_url: str = ""  # the base of the URLs handed out (``files.public_url`` if set, else the request's)

    @property
    def key(self) -> bytes:
        return signing_key(self.settings)


async def render(conn: Conn, ctx: FileContext, rows: list[Row]) -> dict[str, dict[str, Any]]:
    """Slack file objects of these rows, by file id."""
    if not rows:
        return {}
    workspace_id = rows[0]["workspace_id"]
    shares = await store.shares_of(conn, workspace_id, [r["file_id"] for r in rows])
    by_file: dict[str, list[Row]] = {}
    kinds: dict[str, str] = {}
    for share in shares:
        by_file.setdefault(share["file_id"], []).append(share)
        kinds[share["channel_id"]] = share["kind"]
    return {
        row["file_id"]: domain.to_slack(row, by_file.get(row["file_id"], []), kinds, base=ctx.base_url,
                                        signing_key=ctx.key,
                                        signed_seconds=ctx.settings.files.signed_url_seconds)
        for row in rows
    }


async def hydrate(ctx: FileContext, workspace_id: str, messages: list[dict[str, Any]]) -> None:
    """Replace the file ids of these Slack messages by file objects (tombstones for deleted files)."""
    wanted = sorted({f["id"] for m in messages for f in m.get("files", ()) if len(f) == 1})
    if not wanted:
        return
    async with ctx.db.read() as conn:
        objects = await render(conn, ctx, await store.get_many(conn, workspace_id, wanted))
    for message in messages:
        if "files" in message:
            message["files"] = [objects.get(f["id"], domain.tombstone(f["id"])) if len(f) == 1 else f
                                for f in message["files"]]


# -- 1. the upload URL ----------------------------------------------------------------------


async def upload_url(ctx: FileContext, actor: Actor, *, filename: str, length: int, alt_txt: str | None,
                     snippet_type: str | None) -> tuple[str, str]:
    """A pending file and its upload URL: ``(upload_url, file_id)``."""
    filename = names.normalized(filename)
    if not domain.valid_name(filename):
        raise CellError("invalid_arguments", detail="filename must be 1-255 characters without / \\, control, "
                                                    "invisible or text-reordering characters")
    limits = ctx.settings.files
    if length < 1:
        raise CellError("invalid_length", detail="length must be a positive number of bytes")
    if length > limits.max_file_bytes:
        raise CellError("file_too_large", detail=f"files are limited to {limits.max_file_bytes} bytes")
    file_id = ids.new_id(ids.FILE)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=limits.upload_url_seconds)
    async with ctx.db.transaction() as conn:
        await store.lock_workspace_quota(conn, actor.workspace_id)
        if await store.stored_bytes(conn, actor.workspace_id) + length > limits.workspace_quota_bytes:
            raise CellError("storage_limit_reached", detail="the workspace's file storage is full")
        await store.insert_pending(conn, {
            "workspace_id": actor.workspace_id, "file_id": file_id, "user_id": actor.user_id,
            "name": filename, "title": filename, "alt_txt": alt_txt, "snippet_type": snippet_type,
            "declared_size": length, "upload_expires_at": expires,
        })
    query = domain.signed_query(ctx.key, "upload", actor.workspace_id, file_id, limits.upload_url_seconds)
    return f"{ctx.base_url.rstrip('/')}/upload/v1/{actor.workspace_id}-{file_id}?{query}", file_id


# -- 2. the bytes -----------------------------------------------------------------------------


class UploadRefused(CellError):
    """An upload URL refused; ``status`` is the HTTP status of the answer."""

    def __init__(self, code: SlackErrorCode, status: int, detail: str | None = None) -> None:
        super().__init__(code, detail=detail)
        self.status = status


class _TooMany(Exception):
    pass


async def receive(ctx: FileContext, workspace_id: str, file_id: str, expires: str, sig: str,
                  body: AsyncIterator[bytes]) -> Row:
    """Stream an upload's bytes into storage; returns the uploaded file row.

    Refusals (``UploadRefused``): a bad or expired signature (403 ``invalid_upload_url``), an
    upload already received or under way (409 ``upload_url_used``), more bytes than declared
    (413 ``file_too_large``) or fewer (400 ``invalid_length``), a frozen or moved workspace.
    """
    if not domain.signature_valid(ctx.key, "upload", workspace_id, file_id, expires, sig):
        raise UploadRefused("invalid_upload_url", 403, "the upload URL is invalid or expired")
    async with ctx.db.read() as conn:
        workspace = await directory.get_workspace(conn, workspace_id)
        row = await store.get(conn, workspace_id, file_id)
    if workspace is None or row is None:
        raise UploadRefused("file_not_found", 404)
    check_workspace_status(workspace_id, workspace["status"], workspace["moved_to"], writes=True,
                           incoming=workspace["incoming"])
    if row["state"] != "pending":
        raise UploadRefused("upload_url_used", 409, "this upload URL was already used")
    claim, mine = f"files:upload:{workspace_id}:{file_id}", secrets.token_hex(8)
    deadline = ctx.settings.redis.timeout_seconds
    try:
        # Redis guards the upload in flight; while it does not answer, say so instead of hanging.
        async with asyncio.timeout(deadline):
            claimed = await ctx.redis.set(claim, mine, nx=True, ex=ctx.settings.files.upload_url_seconds + 60)
    except (TimeoutError, RedisError, OSError) as exc:
        # The SET may still be applied when Redis wakes up: take our claim back then, so the URL
        # stays usable (the client may send the upload again).
        _release_later(ctx.redis, claim, mine, deadline)
        raise UploadRefused("service_unavailable", 503, "uploads are briefly unavailable; retry shortly") from exc
    if not claimed:
        raise UploadRefused("upload_url_used", 409, "an upload to this URL is under way")
    staging = storage.staging_key(workspace_id, file_id)
    try:
        return await _store_upload(ctx, row, staging, body)
    except BaseException:
        await ctx.storage.delete([staging])
        try:
            async with asyncio.timeout(deadline):
                await _release(ctx.redis, claim, mine)
        except (TimeoutError, RedisError, OSError):
            _release_later(ctx.redis, claim, mine, deadline)
        raise


# Delete the claim only if it is still ours (a later upload may hold it by then).
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
_releasing: set[asyncio.Task[None]] = set()


async def _release(redis: aioredis.Redis, claim: str, mine: str) -> None:
    await redis.eval(_RELEASE, 1, claim, mine)


def _release_later(redis: aioredis.Redis, claim: str, mine: str, deadline: float, *, tries: int = 120) -> None:
    """Keep trying to release ``claim`` in the background (about two minutes), off the request path."""

    async def run() -> None:
        for _ in range(tries):
            try:
                async with asyncio.timeout(deadline):
                    await _release(redis, claim, mine)
                return
            except (TimeoutError, RedisError, OSError):
                await asyncio.sleep(1.0)
        log.warning("upload claim %s not released (Redis did not answer); it expires by itself", claim)

    task = asyncio.get_running_loop().create_task(run(), name="upload-claim-release")
    _releasing.add(task)
    task.add_done_callback(_releasing.discard)


async def _store_upload(ctx: FileContext, row: Row, staging: str, body: AsyncIterator[bytes]) -> Row:
    workspace_id, file_id, declared = row["workspace_id"], row["file_id"], int(row["declared_size"])
    digest = hashlib.sha256()
    head = bytearray()
    received = 0

    async def counted() -> AsyncIterator[bytes]:
        # Handed to the store in pieces of about a MiB (not the server's 64 KiB reads): fewer calls
        # into the store, and still a bounded buffer per upload.
        nonlocal received
        pending: list[bytes] = []
        buffered = 0
        async for chunk in body:
            received += len(chunk)
            if received > declared:
                raise _TooMany
            if len(head) < domain.SNIFF_BYTES:
                head.extend(chunk[: domain.SNIFF_BYTES - len(head)])
            pending.append(chunk)
            buffered += len(chunk)
            if buffered >= storage.PIECE:
                piece = b"".join(pending)
                pending.clear()
                buffered = 0
                # hashlib lets go of the GIL on big buffers: hashed on a thread, the event loop
                # keeps serving other requests (chat.postMessage) meanwhile.
                await anyio.to_thread.run_sync(digest.update, piece)
                yield piece
        if pending:
            piece = b"".join(pending)
            digest.update(piece)
            yield piece

    try:
        await ctx.storage.put(staging, counted())
    except _TooMany:
        raise UploadRefused("file_too_large", 413, f"more than the declared {declared} bytes") from None
    except Exception as exc:
        if isinstance(exc.__cause__, _TooMany) or "_TooMany" in repr(exc):
            raise UploadRefused("file_too_large", 413, f"more than the declared {declared} bytes") from None
        raise
    if received != declared:
        raise UploadRefused("invalid_length", 400, f"received {received} bytes, declared {declared}")
    sha = digest.hexdigest()
    target = storage.content_key(workspace_id, sha)
    if await ctx.storage.head(target) is None:
        await ctx.storage.rename(staging, target)
    else:
        await ctx.storage.delete([staging])  # the same bytes are already stored for this workspace
    mimetype, filetype = domain.sniff(bytes(head), row["name"])
    preview = "pending" if mimetype in domain.PREVIEW_TYPES else None
    try:
        async with ctx.db.transaction() as conn:
            if not await store.mark_uploaded(conn, workspace_id, file_id, size=received, sha256=sha,
                                             mimetype=mimetype, filetype=filetype, preview=preview):
                raise UploadRefused("upload_url_used", 409, "this upload URL was already used")
            # Slack's file_created, to the uploader; the preview worker starts from it too.
            await outbox.append(conn, workspace_id, Audience.person(row["user_id"]), "file_created", {
                "type": "file_created", "file_id": file_id, "file": {"id": file_id},
                "user_id": row["user_id"], "event_ts": message_actions.event_ts(),
            })
    except BaseException:
        await _drop_content_if_unused(ctx, workspace_id, sha)
        raise
    async with ctx.db.read() as conn:
        uploaded = await store.get(conn, workspace_id, file_id)
    assert uploaded is not None
    return uploaded


async def _drop_content_if_unused(ctx: FileContext, workspace_id: str, sha: str) -> None:
    async with ctx.db.read() as conn:
        used = await store.content_in_use(conn, workspace_id, sha)
    if not used:
        await ctx.storage.delete([storage.content_key(workspace_id, sha),
                                  *(storage.thumb_key(workspace_id, sha, s) for s in domain.THUMB_SIZES)])


# -- 3. completing and sharing ------------------------------------------------------------------


async def complete(ctx: FileContext, actor: Actor, items: list[tuple[str, str | None]], *,
                   channel_ids: list[str], initial_comment: str, thread_ts: int | None) -> list[dict[str, Any]]:
    """Complete uploads (``items``: file id and title) and share them in ``channel_ids`` (one
    message per channel carrying them all), or keep them private to the uploader."""
    if not items:
        raise CellError("invalid_arguments", detail="files must list at least one {id, title}")
    if len({file_id for file_id, _ in items}) != len(items):
        raise CellError("invalid_arguments", detail="a file is listed twice")
    if len(initial_comment) > ctx.settings.api.max_text_chars:
        raise CellError("msg_too_long")
    file_ids = [file_id for file_id, _ in items]
    if any(title and names.deceptive(title) for _, title in items):
        raise CellError("invalid_arguments", detail="a title must not hold control, invisible or text-reordering characters")
    async with ctx.db.transaction() as conn:
        for file_id, title in items:
            row = await store.get(conn, actor.workspace_id, file_id, lock=True) if ids.is_id(file_id, ids.FILE) else None
            if row is None or row["user_id"] != actor.user_id:
                raise CellError("file_not_found")
            if row["state"] == "pending":
                raise CellError("file_uploading", detail=f"the bytes of {file_id} have not arrived")
            if row["state"] == "complete":
                raise CellError("invalid_arguments", detail=f"{file_id} is already completed")
            await store.complete(conn, actor.workspace_id, file_id, title or None)

        def sharer(channel_id: str) -> message_actions.FileRenderer:
            async def share(conn: Conn, ts: int, thread: int | None) -> list[dict[str, Any]]:
                for file_id in file_ids:
                    await store.add_share(conn, actor.workspace_id, file_id, channel_id, ts, thread)
                objects = await render(conn, ctx, await store.get_many(conn, actor.workspace_id, file_ids))
                return [objects[file_id] for file_id in file_ids]
            return share

        for channel_id in channel_ids:
            message = await message_actions.post_in(
                conn, actor, channel_id, text=initial_comment, thread_ts=thread_ts, file_ids=file_ids,
                render_files=sharer(channel_id),
            )
            for file in message.get("files", ()):
                await outbox.append(conn, actor.workspace_id, Audience.conversation(channel_id), "file_shared", {
                    "type": "file_shared", "file_id": file["id"], "file": {"id": file["id"]},
                    "user_id": actor.user_id, "channel_id": channel_id, "event_ts": message["ts"],
                })
        objects = await render(conn, ctx, await store.get_many(conn, actor.workspace_id, file_ids))
    return [objects[file_id] for file_id in file_ids]


# -- reading and deleting -------------------------------------------------------------------------


async def readable(conn: Conn, actor: Actor, file_id: str) -> Row:
    """A completed (or, for its uploader, uploaded) file the actor may see; else ``file_not_found``."""
    row = await store.visible(conn, actor.workspace_id, file_id, actor.user_id) if ids.is_id(file_id, ids.FILE) else None
    if row is None or row["state"] == "pending":
        raise CellError("file_not_found")
    return row


async def info(ctx: FileContext, actor: Actor, file_id: str) -> dict[str, Any]:
    async with ctx.db.read() as conn:
        row = await readable(conn, actor, file_id)
        return (await render(conn, ctx, [row]))[file_id]


async def listing(ctx: FileContext, actor: Actor, *, channel_id: str | None, user_id: str | None,
                  types: list[str], ts_from: int | None, ts_to: int | None, count: int,
                  page: int) -> tuple[list[dict[str, Any]], int]:
    unknown = set(types) - store.type_filters()
    if unknown:
        raise CellError("invalid_types", detail=f"unknown types: {', '.join(sorted(unknown))}")
    async with ctx.db.read() as conn:
        if channel_id is not None:
            await visible_channel(conn, actor, channel_id)
        if user_id is not None and (not ids.is_id(user_id, ids.USER + ids.BOT)
                                    or await directory.get_user(conn, actor.workspace_id, user_id) is None):
            raise CellError("user_not_found")
        rows, total = await store.listing(
            conn, actor.workspace_id, actor.user_id, channel_id=channel_id, uploader=user_id, types=types,
            ts_from=ts_from, ts_to=ts_to, limit=count, offset=(page - 1) * count,
        )
        objects = await render(conn, ctx, rows)
    return [objects[row["file_id"]] for row in rows], total


async def delete(ctx: FileContext, actor: Actor, file_id: str) -> None:
    """Delete a file for good, its bytes included once no other file of the workspace has them.

    The uploader or a workspace admin may. Messages that carried it show a tombstone;
    ``file_deleted`` goes to every channel it was shared in. Under a legal hold its row is kept
    in ``held_files`` and its bytes stay (docs/compliance.md).
    """
    async with ctx.db.transaction() as conn:
        row = await readable(conn, actor, file_id)
        if row["user_id"] != actor.user_id and not actor.is_admin:
            raise CellError("cant_delete_file")
        shares = await store.shares_of(conn, actor.workspace_id, [file_id])
        await holds.keep_file(conn, actor.workspace_id, file_id, deleted_by=actor.user_id)
        await store.delete(conn, actor.workspace_id, file_id)
        now = message_actions.event_ts()
        for channel_id in sorted({s["channel_id"] for s in shares}):
            await outbox.append(conn, actor.workspace_id, Audience.conversation(channel_id), "file_deleted", {
                "type": "file_deleted", "file_id": file_id, "channel_ids": [channel_id], "event_ts": now,
            })
    if row["sha256"]:
        await _drop_content_if_unused(ctx, actor.workspace_id, row["sha256"])


async def discard(ctx: FileContext, workspace_id: str, file_id: str) -> None:
    """Forget an upload that will never be completed, bytes and all (the legacy one-request upload)."""
    async with ctx.db.transaction() as conn:
        row = await store.get(conn, workspace_id, file_id, lock=True)
        if row is None or row["state"] == "complete":
            return
        await store.delete(conn, workspace_id, file_id)
    await ctx.storage.delete([storage.staging_key(workspace_id, file_id)])
    if row["sha256"]:
        await _drop_content_if_unused(ctx, workspace_id, row["sha256"])


async def clean_up(ctx: FileContext, *, grace_seconds: int | None = None, limit: int = 100) -> int:
    """Remove files never completed ``grace_seconds`` (default: one more URL lifetime, so that
    an upload still streaming is left alone) after their upload URL expired, bytes and all;
    returns how many went."""
    grace = ctx.settings.files.upload_url_seconds if grace_seconds is None else grace_seconds
    async with ctx.db.read() as conn:
        rows = await store.abandoned(conn, grace, limit)
    gone = 0
    for row in rows:
        workspace_id = row["workspace_id"]
        try:
            async with ctx.db.transaction() as conn:
                current = await store.get(conn, workspace_id, row["file_id"], lock=True)
                if current is None or current["state"] != row["state"]:
                    continue
                await store.delete(conn, workspace_id, row["file_id"])
        except CellError:
            continue  # frozen or moved: the workspace's new home cleans up
        await ctx.storage.delete([storage.staging_key(workspace_id, row["file_id"])])
        if row["sha256"]:
            await _drop_content_if_unused(ctx, workspace_id, row["sha256"])
        gone += 1
    return gone


# -- a workspace's objects, for moves and gc ---------------------------------------------------------


def own_key(workspace_id: str, relative: str) -> str:
    """``ws/<W>/<relative>``; ``invalid_arguments`` for anything that could reach outside it."""
    parts = relative.split("/")
    if not relative or any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts):
        raise CellError("invalid_arguments", detail="an object key relative to its workspace")
    return storage.workspace_prefix(workspace_id) + relative


async def objects_of(store_: Storage, workspace_id: str, *, sealed: bool = False) -> list[dict[str, Any]]:
    """Every object of a workspace but uploads still arriving: key (relative), size and sha256.

    A content object's sha256 is its name; any other object (thumbnails) is read and hashed.
    ``sealed`` (files encrypted at rest): every object is hashed as stored.
    """
    prefix = storage.workspace_prefix(workspace_id)
    found = []
    for info in await store_.list(prefix):
        relative = info.key[len(prefix):]
        if relative.startswith("uploads/"):
            continue
        kind, _, name = relative.partition("/")
        digest = name if kind == "sha256" and not sealed else await store_.sha256(info.key)
        found.append({"key": relative, "size": info.size, "sha256": digest})
    return found


async def receive_object(store_: Storage, workspace_id: str, relative: str, sha256: str,
                         body: AsyncIterator[bytes]) -> int:
    """Store one object of a workspace arriving from another cell, checking its sha256; its size.

    The bytes go to a staging key first and replace the object only when their hash matches,
    so a cut or corrupt copy never stands in for the real one.
    """
    key = own_key(workspace_id, relative)
    staging = storage.staging_key(workspace_id, "copy-" + hashlib.sha256(relative.encode()).hexdigest()[:16])
    digest = hashlib.sha256()
    size = 0

    async def hashed() -> AsyncIterator[bytes]:
        nonlocal size
        async for chunk in body:
            size += len(chunk)
            digest.update(chunk)
            yield chunk

    try:
        await store_.put(staging, hashed())
        if digest.hexdigest() != sha256:
            raise CellError("invalid_arguments", detail=f"{relative}: the bytes do not hash to {sha256}")
        await store_.rename(staging, key)
    finally:
        await store_.delete([staging])
    return size


async def delete_objects(store_: Storage, workspace_id: str) -> int:
    """Delete every object of a workspace (gc of a moved-away copy, or an aborted move's target copy)."""
    found = await store_.list(storage.workspace_prefix(workspace_id))
    await store_.delete([info.key for info in found])
    return len(found)
