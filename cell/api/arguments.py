"""How method arguments are read: field types for the ``Args`` models and the ts parsers.

Shared by the method modules, so that none of them imports another's helpers.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BeforeValidator

from cell.api.request import checked
from cell.domain.ts import parse_ts
from cell.errors import CellError, SlackErrorCode


def _json_if_str(value: Any) -> Any:
    # Slack clients send blocks/attachments as JSON strings inside form bodies. orjson, not json:
    # it refuses absurd nesting with an error instead of a RecursionError.
    if isinstance(value, str):
        try:
            return checked(orjson.loads(value))
        except orjson.JSONDecodeError:
            return value
    return value


JsonField = BeforeValidator(_json_if_str)


def _csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CsvField = BeforeValidator(_csv)


def ts_or(value: str | None, error: SlackErrorCode) -> int:
    """A ts argument as microseconds; ``error`` (a Slack code) when it is missing or malformed."""
    if not value:
        raise CellError(error)
    try:
        return parse_ts(value)
    except ValueError as exc:
        raise CellError(error) from exc


def ts_or_none(value: str) -> int | None:
    """A ts argument as microseconds, or None when malformed (the action reports what is missing)."""
    try:
        return parse_ts(value)
    except ValueError:
        return None


def item(channel: str | None, timestamp: str | None) -> tuple[str, int]:
    """The ``(channel, ts)`` a reaction or pin call names: ``no_item_specified`` when either is
    missing, ``bad_timestamp`` when the ts is malformed."""
    if not channel or not timestamp:
        raise CellError("no_item_specified")
    return channel, ts_or(timestamp, "bad_timestamp")
