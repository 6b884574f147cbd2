"""Files as Slack shows them, and what the server decides about bytes (pure, no I/O).

The content type is sniffed from the first bytes, never taken from the client; only a
few image types are ever shown inline, everything else downloads as an attachment.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote

from cell.domain import names
from cell.domain.numbers import decimal
from cell.domain.ts import format_ts

MAX_NAME_CHARS = 255
THUMB_SIZES = (64, 360, 720)
SNIFF_BYTES = 512

# Shown inline (Content-Disposition: inline): images that browsers never execute.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# Pillow previews these.
PREVIEW_TYPES = INLINE_TYPES

_MAGIC: tuple[tuple[bytes, int, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", "png"),
    (b"\xff\xd8\xff", 0, "image/jpeg", "jpg"),
    (b"GIF87a", 0, "image/gif", "gif"),
    (b"GIF89a", 0, "image/gif", "gif"),
    (b"%PDF-", 0, "application/pdf", "pdf"),
    (b"PK\x03\x04", 0, "application/zip", "zip"),
    (b"\x1f\x8b", 0, "application/gzip", "gzip"),
    (b"BM", 0, "image/bmp", "bmp"),
    (b"ftyp", 4, "video/mp4", "mp4"),
)

_TEXT_TYPES = {
    "py": "python", "md": "markdown", "csv": "csv", "json": "javascript", "js": "javascript",
    "ts": "javascript", "html": "html", "htm": "html", "css": "css", "sql": "sql", "sh": "shell",
    "yaml": "yaml", "yml": "yaml", "txt": "text", "log": "text", "go": "go", "rs": "rust",
    "c": "c", "h": "c", "java": "java", "xml": "xml",
}


def sniff(head: bytes, name: str) -> tuple[str, str]:
    """``(mimetype, Slack filetype)`` judged from the first bytes (and, for text, the name's extension)."""
    for magic, offset, mimetype, filetype in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return mimetype, filetype
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    if not head:
        return "text/plain", "text"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            textual = True
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the end of the sniffed window is still text.
            textual = exc.start >= len(head) - 3
        if textual:
            extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
            return "text/plain", _TEXT_TYPES.get(extension, "text")
    return "application/octet-stream", "binary"


def valid_name(name: str) -> bool:
    """A file name we store (``names.normalized`` first): 1-255 characters, no path separators, nothing
    invisible or text-reordering (``invoice\u202efdp.exe`` would show as ``invoiceexe.pdf``)."""
    if not name or len(name) > MAX_NAME_CHARS or name in (".", ".."):
        return False
    return not any(ch in "/\\" or ord(ch) < 32 or ord(ch) == 127 for ch in name) and not names.deceptive(name)


def disposition(name: str, mimetype: str, *, download: bool) -> str:
    """``Content-Disposition``: inline only for safe image types; the name RFC 6266-encoded."""
    kind = "inline" if mimetype in INLINE_TYPES and not download else "attachment"
    ascii_name = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in name)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


# -- signatures of upload and download URLs ------------------------------------------


def sign(key: bytes, purpose: str, workspace_id: str, file_id: str, expires: int) -> str:
    message = f"{purpose}:{workspace_id}:{file_id}:{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:40]


def signature_valid(key: bytes, purpose: str, workspace_id: str, file_id: str, expires: str, sig: str,
                    *, now: float | None = None) -> bool:
    """True when ``sig`` signs this purpose/file and ``expires`` (unix seconds) has not passed."""
    until = decimal(expires)
    if until is None or until < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(sign(key, purpose, workspace_id, file_id, until), sig)


def signed_query(key: bytes, purpose: str, workspace_id: str, file_id: str, seconds: int) -> str:
    expires = int(time.time()) + seconds
    return f"exp={expires}&sig={sign(key, purpose, workspace_id, file_id, expires)}"


# -- the Slack shape -----------------------------------------------------------------


def urls(base: str, workspace_id: str, file_id: str, name: str) -> dict[str, str]:
    quoted = quote(name, safe="")
    root = f"{base.rstrip('/')}/files-pri/{workspace_id}-{file_id}"
    return {
        "url_private": f"{root}/{quoted}",
        "url_private_download": f"{root}/download/{quoted}",
        "permalink": f"{base.rstrip('/')}/files/{workspace_id}/{file_id}/{quoted}",
    }


def to_slack(row: dict[str, Any], shares: list[dict[str, Any]], channel_kinds: dict[str, str],
             *, base: str, signing_key: bytes, signed_seconds: int) -> dict[str, Any]:
    """A file row, its share rows and the kinds of the channels they are in -> Slack's file object.

    Thumbnail URLs are signed (an ``<img>`` cannot send a token); ``url_private*`` need a token.
    """
    workspace_id, file_id = row["workspace_id"], row["file_id"]
    created = int(row["created_at"].timestamp())
    file: dict[str, Any] = {
        "id": file_id,
        "created": created,
        "timestamp": created,
        "name": row["name"],
        "title": row["title"],
        "mimetype": row["mimetype"] or "",
        "filetype": row["filetype"] or "",
        "pretty_type": (row["filetype"] or "").upper(),
        "user": row["user_id"],
        "user_team": workspace_id,
        "editable": False,
        "size": int(row["size"] if row["size"] is not None else row["declared_size"]),
        "mode": "hosted",
        "is_external": False,
        "external_type": "",
        "is_public": False,
        "public_url_shared": False,
        "display_as_bot": False,
        "username": "",
        **urls(base, workspace_id, file_id, row["name"]),
        "file_access": "visible",
    }
    if row.get("alt_txt"):
        file["alt_txt"] = row["alt_txt"]
    if row.get("original_w"):
        file["original_w"] = row["original_w"]
        file["original_h"] = row["original_h"]
    thumbs = row.get("thumbs") or {}
    root = f"{base.rstrip('/')}/files-tmb/{workspace_id}-{file_id}"
    query = signed_query(signing_key, "thumb", workspace_id, file_id, signed_seconds) if thumbs else ""
    for size in THUMB_SIZES:
        dims = thumbs.get(str(size))
        if dims:
            file[f"thumb_{size}"] = f"{root}/{size}?{query}"
            file[f"thumb_{size}_w"], file[f"thumb_{size}_h"] = int(dims[0]), int(dims[1])
    channels: list[str] = []
    groups: list[str] = []
    ims: list[str] = []
    public: dict[str, list[dict[str, Any]]] = {}
    private: dict[str, list[dict[str, Any]]] = {}
    for share in shares:
        channel_id = share["channel_id"]
        kind = channel_kinds.get(channel_id, "public")
        bucket = channels if kind == "public" else ims if kind == "im" else groups
        if channel_id not in bucket:
            bucket.append(channel_id)
        entry: dict[str, Any] = {"ts": format_ts(share["ts"]), "share_user_id": row["user_id"],
                                 "team_id": workspace_id, "reply_users": [], "reply_users_count": 0,
                                 "reply_count": 0}
        if share.get("thread_ts") is not None:
            entry["thread_ts"] = format_ts(share["thread_ts"])
        (public if kind == "public" else private).setdefault(channel_id, []).append(entry)
    file["channels"], file["groups"], file["ims"] = channels, groups, ims
    file["shares"] = {key: value for key, value in (("public", public), ("private", private)) if value}
    file["comments_count"] = 0
    file["has_rich_preview"] = False
    return file


def tombstone(file_id: str) -> dict[str, Any]:
    """What a message shows in place of a deleted file (Slack's ``mode: tombstone``)."""
    return {"id": file_id, "mode": "tombstone"}
