"""Image previews: orientation applied, no GPS in thumbnails, no thumbnail for bombs or corrupt images."""

from __future__ import annotations

import asyncio
import io
import time

import httpx
import psycopg
from PIL import Image
from slack_sdk import WebClient

from cell.previews import make_preview, preview_file
from cell.storage import open_storage
from cell.store.db import Database
from tests.support.cells import RunningCell, running_cell
from tests.support.infra import Infra

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def jpeg_rotated_with_gps(width: int, height: int) -> bytes:
    """A JPEG stored ``width``x``height`` whose EXIF says: rotate 90 degrees (6), and where it was taken."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)})
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_orientation_is_applied_and_thumbnails_carry_no_exif() -> None:
    """A sideways-stored photo is previewed upright (width and height swapped), and no thumbnail
    carries EXIF: the GPS position does not leave with it."""
    photo = jpeg_rotated_with_gps(800, 400)
    with Image.open(io.BytesIO(photo)) as source:
        assert source.getexif().get_ifd(GPS_IFD)[1] == "N"  # the original does say where
    preview = make_preview(photo, max_pixels=10**8)
    assert preview is not None
    assert (preview.width, preview.height) == (400, 800)
    assert {s: (w, h) for s, (w, h, _) in preview.thumbs.items()} == {64: (32, 64), 360: (180, 360), 720: (360, 720)}
    for _, _, png in preview.thumbs.values():
        with Image.open(io.BytesIO(png)) as thumb:
            assert (thumb.format, dict(thumb.getexif()), "exif" in thumb.info) == ("PNG", {}, False)


def test_a_decompression_bomb_gets_no_preview() -> None:
    """An image of more pixels than allowed is refused from its header, before decoding."""
    out = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(out, format="PNG")  # a few KiB, 144 million pixels
    assert make_preview(out.getvalue(), max_pixels=50_000_000) is None


def test_a_corrupt_or_truncated_image_gets_no_preview() -> None:
    """Bytes that start like a PNG but are not one, or are cut short, give no preview and no error."""
    out = io.BytesIO()
    Image.new("RGB", (300, 300), (1, 2, 3)).save(out, format="PNG")
    whole = out.getvalue()
    assert [make_preview(data, max_pixels=10**8) for data in (whole[: len(whole) // 2], b"\x89PNG\r\n\x1a\nnope")] == [
        None, None]


def test_a_previewed_image_shows_thumbnails_with_signed_urls(cell: RunningCell) -> None:
    """Once the preview ran, files.info shows original_w/h and thumb_64/360/720 whose signed URLs
    answer the PNG without a token; the bytes of the original keep their EXIF."""
    ws = cell.workspace()
    client = WebClient(token=ws.owner.token, base_url=cell.api)
    photo = jpeg_rotated_with_gps(100, 50)
    file = client.files_upload_v2(channel=ws.general, content=photo, filename="photo.jpg")["file"]
    assert "thumb_64" not in file

    async def run_preview() -> bool:
        db = Database(cell.settings.database.dsn, min_size=1, max_size=2)
        await db.open()
        try:
            return await preview_file(db, open_storage(cell.settings.storage), cell.settings.files, ws.id, file["id"])
        finally:
            await db.close()

    assert asyncio.run(run_preview()) is True
    info = client.files_info(file=file["id"])["file"]
    assert (info["original_w"], info["original_h"], info["thumb_64_w"], info["thumb_64_h"]) == (50, 100, 32, 64)
    thumb = httpx.get(info["thumb_360"])
    assert (thumb.status_code, thumb.headers["content-type"], thumb.content[:8]) == (200, "image/png", b"\x89PNG\r\n\x1a\n")
    tampered = httpx.get(info["thumb_360"].replace("sig=", "sig=0"))
    assert tampered.status_code == 403


def test_the_worker_makes_previews_off_the_request_path(infra: Infra) -> None:
    """With the worker running (role all), an uploaded photo gets its thumbnails without anyone
    asking: the file_previews consumer made them from the file_created event."""
    with running_cell(infra, role="all") as cell:
        ws = cell.workspace()
        client = WebClient(token=ws.owner.token, base_url=cell.api)
        file = client.files_upload_v2(channel=ws.general, content=jpeg_rotated_with_gps(100, 50),
                                      filename="photo.jpg")["file"]
        deadline = time.monotonic() + 30
        info = client.files_info(file=file["id"])["file"]
        while "thumb_64" not in info and time.monotonic() < deadline:
            time.sleep(0.1)
            info = client.files_info(file=file["id"])["file"]
    assert (info.get("thumb_64_w"), info.get("thumb_64_h"), info.get("original_w")) == (32, 64, 50)


def test_a_preview_pending_without_its_event_is_made_by_the_sweep(infra: Infra) -> None:
    """A file that arrives pending with no ``file_created`` in this cell's outbox - what a live move
    copies when it freezes a workspace before its preview was made (the event stays in the old
    cell's outbox) - gets its thumbnails from the worker's sweep of pending previews."""
    with running_cell(infra, role="all", files={"preview_sweep_seconds": 0.5}) as cell:
        ws = cell.workspace()
        client = WebClient(token=ws.owner.token, base_url=cell.api)
        file = client.files_upload_v2(channel=ws.general, content=jpeg_rotated_with_gps(100, 50),
                                      filename="photo.jpg")["file"]
        deadline = time.monotonic() + 30
        while "thumb_64" not in client.files_info(file=file["id"])["file"] and time.monotonic() < deadline:
            time.sleep(0.1)
        with psycopg.connect(cell.dsn, autocommit=True) as conn:  # as a move's copy arrives: pending, its event long consumed
            conn.execute("UPDATE files SET preview = 'pending', thumbs = NULL, original_w = NULL, original_h = NULL,"
                         " created_at = now() - interval '1 minute' WHERE workspace_id = %s", (ws.id,))
        assert "thumb_64" not in client.files_info(file=file["id"])["file"]
        info = client.files_info(file=file["id"])["file"]
        while "thumb_64" not in info and time.monotonic() < deadline + 30:
            time.sleep(0.1)
            info = client.files_info(file=file["id"])["file"]
    assert (info.get("thumb_64_w"), info.get("thumb_64_h"), info.get("original_w")) == (32, 64, 50)
