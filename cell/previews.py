"""Image previews: dimensions and thumbnails, made off the request path (the worker's preview consumer).

Thumbnails are re-encoded PNGs of the image as it is meant to be seen (EXIF orientation
applied) and carry no metadata at all, so no EXIF GPS position leaves with them. A
decompression bomb (more pixels than ``files.max_image_pixels``), an image too big to
decode (``files.preview_max_bytes``) or a corrupt one gets no thumbnail, never a crash.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass

import anyio
from PIL import Image, ImageOps, UnidentifiedImageError

from cell import storage
from cell.domain.files import PREVIEW_TYPES, THUMB_SIZES
from cell.errors import WorkspaceMoved
from cell.settings import FileSettings
from cell.storage import Storage
from cell.store import files as store
from cell.store.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Preview:
    width: int
    height: int
    thumbs: dict[int, tuple[int, int, bytes]]  # size -> (w, h, PNG bytes)


def make_preview(data: bytes, max_pixels: int) -> Preview | None:
    """Dimensions and thumbnails of an image, or None when it is no image we will decode."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                if opened.width * opened.height > max_pixels:
                    return None  # checked on the header, before a pixel is decoded
                opened.seek(0)  # the first frame of an animation
                image = ImageOps.exif_transpose(opened)
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        return None
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or image.mode == "P" else "RGB")
    thumbs: dict[int, tuple[int, int, bytes]] = {}
    for size in THUMB_SIZES:
        thumb = image.copy()
        thumb.thumbnail((size, size), Image.Resampling.LANCZOS)  # never enlarges
        out = io.BytesIO()
        thumb.save(out, format="PNG", optimize=False)  # a fresh PNG: no EXIF, no GPS
        thumbs[size] = (thumb.width, thumb.height, out.getvalue())
    return Preview(image.width, image.height, thumbs)


async def preview_file(db: Database, store_: Storage, settings: FileSettings, workspace_id: str,
                       file_id: str) -> bool:
    """Make and record the preview of one uploaded file; False when there is nothing (more) to do.

    Idempotent: a file already previewed, deleted or not an image is left alone, so a
    consumer may see the same event twice. A workspace moved away is left to its new cell;
    a frozen one raises ``WorkspaceFrozen`` (try again once it thaws).
    """
    async with db.read() as conn:
        row = await store.get(conn, workspace_id, file_id)
    if row is None or row["preview"] != "pending" or row["sha256"] is None:
        return False
    preview: Preview | None = None
    if row["mimetype"] in PREVIEW_TYPES and int(row["size"] or 0) <= settings.preview_max_bytes:
        try:
            data = await store_.read(storage.content_key(workspace_id, row["sha256"]))
        except FileNotFoundError:
            data = b""
        preview = await anyio.to_thread.run_sync(make_preview, data, settings.max_image_pixels)
    if preview is not None:
        for size, (_, _, png) in preview.thumbs.items():
            await store_.put(storage.thumb_key(workspace_id, row["sha256"], size), png)
    try:
        async with db.transaction() as conn:
            await store.set_preview(
                conn, workspace_id, file_id,
                width=preview.width if preview else None, height=preview.height if preview else None,
                thumbs={str(s): [w, h] for s, (w, h, _) in preview.thumbs.items()} if preview else None,
            )
    except WorkspaceMoved:
        return False  # its new cell holds the file now (a frozen workspace raises: try again later)
    if preview is None:
        log.info("file %s/%s gets no preview (not a decodable image within limits)", workspace_id, file_id)
    return True
