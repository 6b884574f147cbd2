"""Slack's request signing (``X-Slack-Signature: v0=…``, ``X-Slack-Request-Timestamp``). Pure.

Slack signs ``v0:<timestamp>:<raw body>`` with HMAC-SHA256 under the app's signing secret and
sends the hex digest as ``v0=<hex>``. Receivers (``slack_sdk.signature.SignatureVerifier``,
Bolt) recompute it and refuse a timestamp more than five minutes away from their clock, which is
what makes a captured request useless later (a replay).
"""

from __future__ import annotations

import hashlib
import hmac

from cell.domain.numbers import decimal

VERSION = "v0"
MAX_SKEW_SECONDS = 300  # Slack's, and what SignatureVerifier allows


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Slack-Signature`` value of ``body`` sent at ``timestamp`` (unix seconds)."""
    base = f"{VERSION}:{timestamp}:".encode() + body
    return f"{VERSION}=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The two headers Slack sends with a signed request."""
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature(secret, timestamp, body)}


def valid(secret: str, timestamp: str | None, given: str | None, body: bytes, now: float) -> bool:
    """True when ``given`` signs ``body`` at ``timestamp`` under ``secret``, and ``timestamp`` is
    within five minutes of ``now`` (a stale or future one is a replay: refused)."""
    if timestamp is None or not given or (at := decimal(timestamp)) is None:
        return False
    if abs(now - at) > MAX_SKEW_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), given)
