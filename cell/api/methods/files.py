"""``files.*``: Slack's external upload flow (what ``slack_sdk``'s ``files_upload_v2`` calls),
``files.info``, ``files.list``, ``files.delete`` and the legacy ``files.upload``."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Annotated, Any

from pydantic import ConfigDict, Field
from starlette.datastructures import UploadFile

from cell.actions import files
from cell.actions.files import FileContext
from cell.api.arguments import CsvField, JsonField, ts_or_none
from cell.api.registry import Args, Context, method
from cell.errors import CellError


def file_context(ctx: Context) -> FileContext:
    services = ctx.services
    base = services.settings.files.public_url or ctx.base_url
    return FileContext(services.db, services.storage, services.redis, services.settings, base)


def _thread(value: str | None) -> int | None:
    if not value:
        return None
    ts = ts_or_none(value)
    if ts is None:
        raise CellError("invalid_arguments", detail="thread_ts must be a ts like 1700000000.000100")
    return ts


class UploadUrlArgs(Args):
    filename: str
    length: int
    alt_txt: str | None = Field(default=None, max_length=1000)
    snippet_type: str | None = Field(default=None, max_length=40)


@method("files.getUploadURLExternal", UploadUrlArgs, tier="tier4", writes=True)
async def get_upload_url(ctx: Context, args: UploadUrlArgs) -> dict[str, Any]:
    url, file_id = await files.upload_url(file_context(ctx), ctx.actor, filename=args.filename,
                                          length=args.length, alt_txt=args.alt_txt,
                                          snippet_type=args.snippet_type)
    return {"upload_url": url, "file_id": file_id}


class FileItem(Args):
    id: str
    title: str | None = Field(default=None, max_length=1000)


class CompleteArgs(Args):
    files: Annotated[list[FileItem], JsonField]
    channel_id: str | None = None
    channels: Annotated[list[str] | None, CsvField] = None
    initial_comment: str = ""
    thread_ts: str | None = None


@method("files.completeUploadExternal", CompleteArgs, tier="tier4", writes=True)
async def complete_upload(ctx: Context, args: CompleteArgs) -> dict[str, Any]:
    channels = list(dict.fromkeys([*([args.channel_id] if args.channel_id else []), *(args.channels or [])]))
    done = await files.complete(file_context(ctx), ctx.actor, [(f.id, f.title) for f in args.files],
                                channel_ids=channels, initial_comment=args.initial_comment,
                                thread_ts=_thread(args.thread_ts))
    return {"files": done}


class InfoArgs(Args):
    file: str
    count: int = Field(default=100, ge=1, le=1000)
    page: int = Field(default=1, ge=1)


@method("files.info", InfoArgs, tier="tier4")
async def info(ctx: Context, args: InfoArgs) -> dict[str, Any]:
    file = await files.info(file_context(ctx), ctx.actor, args.file)
    return {"file": file, "comments": [], "response_metadata": {"next_cursor": ""}}


class ListArgs(Args):
    channel: str | None = None
    user: str | None = None
    types: Annotated[list[str], CsvField] = Field(default_factory=lambda: ["all"])
    ts_from: float | None = None
    ts_to: float | None = None
    count: int = Field(default=100, ge=1, le=1000)
    page: int = Field(default=1, ge=1, le=100_000)


@method("files.list", ListArgs, tier="tier3")
async def list_files(ctx: Context, args: ListArgs) -> dict[str, Any]:
    found, total = await files.listing(
        file_context(ctx), ctx.actor, channel_id=args.channel or None, user_id=args.user or None,
        types=args.types or ["all"], ts_from=int(args.ts_from) if args.ts_from else None,
        ts_to=int(args.ts_to) if args.ts_to else None, count=args.count, page=args.page,
    )
    return {"files": found, "paging": {"count": args.count, "total": total, "page": args.page,
                                       "pages": max(1, math.ceil(total / args.count))}}


class DeleteArgs(Args):
    file: str


@method("files.delete", DeleteArgs, tier="tier3", writes=True)
async def delete(ctx: Context, args: DeleteArgs) -> dict[str, Any]:
    await files.delete(file_context(ctx), ctx.actor, args.file)
    return {}


class LegacyUploadArgs(Args):
    model_config = ConfigDict(extra="ignore", arbitrary_types_allowed=True)

    file: UploadFile | None = None
    content: str | None = None
    filename: str | None = None
    title: str | None = None
    channels: Annotated[list[str] | None, CsvField] = None
    initial_comment: str = ""
    thread_ts: str | None = None


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(256 * 1024):
        yield chunk


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


@method("files.upload", LegacyUploadArgs, tier="tier2", writes=True, multipart=True)
async def legacy_upload(ctx: Context, args: LegacyUploadArgs) -> dict[str, Any]:
    """The retired one-request upload: the same three steps as ``files_upload_v2``, done here."""
    if (args.file is None) == (args.content is None):
        raise CellError("invalid_arguments", detail="send exactly one of file and content")
    fctx = file_context(ctx)
    if args.file is not None:
        name = args.filename or args.file.filename or "file"
        length = args.file.size if args.file.size is not None else 0
        body = _chunks(args.file)
    else:
        data = (args.content or "").encode()
        name, length, body = args.filename or "snippet.txt", len(data), _one(data)
    url, file_id = await files.upload_url(fctx, ctx.actor, filename=name, length=length, alt_txt=None,
                                          snippet_type=None)
    expires, sig = _signature(url)
    try:
        await files.receive(fctx, ctx.actor.workspace_id, file_id, expires, sig, body)
        done = await files.complete(fctx, ctx.actor, [(file_id, args.title)], channel_ids=args.channels or [],
                                    initial_comment=args.initial_comment, thread_ts=_thread(args.thread_ts))
    except BaseException:
        await files.discard(fctx, ctx.actor.workspace_id, file_id)  # one request: nothing half-done stays
        raise
    return {"file": done[0]}


def _signature(url: str) -> tuple[str, str]:
    query = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
    return query["exp"], query["sig"]
