"""Opaque pagination cursors (``response_metadata.next_cursor``)."""

from __future__ import annotations

import base64
import binascii

from cell.errors import CellError


def encode(kind: str, value: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def decode(kind: str, cursor: str) -> str:
    """The value inside a cursor of ``kind``; ``invalid_cursor`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise CellError("invalid_cursor") from exc
    prefix, sep, value = raw.partition(":")
    if prefix != kind or not sep or not value:
        raise CellError("invalid_cursor")
    return value


def decode_int(kind: str, cursor: str) -> int:
    """An integer position inside a cursor of ``kind``; ``invalid_cursor`` otherwise."""
    value = decode(kind, cursor)
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise CellError("invalid_cursor")
    return int(value)


def metadata(next_value: str | None, kind: str) -> dict[str, dict[str, str]]:
    return {"response_metadata": {"next_cursor": encode(kind, next_value) if next_value else ""}}
