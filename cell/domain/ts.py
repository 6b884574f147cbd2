"""Message timestamps: Slack's ``"<unix seconds>.<6 digits>"``, held as integer microseconds."""

from __future__ import annotations

import re

_TS = re.compile(r"^(\d{1,12})(?:\.(\d{1,6}))?$", re.ASCII)  # ASCII: Arabic-Indic digits are \d otherwise


def format_ts(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def parse_ts(text: str) -> int:
    """Microseconds of a ts string; ``ValueError`` if it is not one."""
    match = _TS.match(text.strip())
    if not match:
        raise ValueError(f"not a ts: {text!r}")
    seconds, frac = match.group(1), (match.group(2) or "").ljust(6, "0")
    return int(seconds) * 1_000_000 + int(frac)
