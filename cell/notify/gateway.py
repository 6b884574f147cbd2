"""The push gateway adapter: the JSON we POST, and what the answer means (docs/notifications.md).

The payload follows Matrix's push gateway API (``POST /_matrix/push/v1/notify``), so a
Sygnal-style gateway needs little more than its routing::

    {"notification": {
        "id": "<idempotency key>",          # the same on every retry of this push
        "event_id": "<idempotency key>",
        "room_id": "C…", "room_name": "#general", "type": "message", "prio": "high",
        "sender": "U…", "sender_display_name": "ann",
        "content": {"body": "ann: the build is green", "msgtype": "m.text"},
        "counts": {"unread": 3},              # the person's total badge
        "cellchat": {"workspace_id": "T…", "reason": "mention", "messages": ["1700…", …], "count": 1},
        "devices": [{"app_id": "…", "pushkey": "…", "pushkey_ts": 1700000000, "data": {}}]}}

The gateway answers ``200 {"rejected": [pushkey, …]}``: a rejected pushkey is a device that is
gone (uninstalled app, expired token), so it is de-registered. Any other 4xx (except 408 and
429) is permanent too, and so is a gateway the SSRF guard refuses to reach (``cell.egress``:
a private, loopback or link-local address); 5xx, 408, 429, redirects, timeouts and connection
errors are retried with backoff. Requests go through :class:`cell.egress.Egress` (resolved
once, no redirects, one deadline, a capped answer), since the URL is a person's to choose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson

from cell.egress import Egress, Refused

Outcome = Literal["sent", "rejected", "retry"]


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: Outcome
    error: str | None = None


def bad_gateway_url(url: str, *, allow_http: bool) -> str | None:
    """Why ``url`` cannot be a push gateway (None if it can): an absolute http(s) URL with a
    host, https unless ``allow_http``, no credentials, no fragment."""
    if not url or len(url) > 2048 or any(c.isspace() for c in url):
        return "must be an absolute URL without spaces"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("https", "http"):
        return "must be an https URL"
    if parts.scheme == "http" and not allow_http:
        return "must be an https URL (plain http is refused)"
    if not parts.hostname:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    if parts.fragment:
        return "must not have a fragment"
    if port == 0:
        return "has an invalid port"
    return None


def payload(key: str, *, workspace_id: str, channel_id: str, room_name: str, sender: str,
            sender_name: str, body: str, badge: int, reason: str, messages: list[str],
            device: dict[str, Any]) -> dict[str, Any]:
    """The notify request for one device (``key`` is the push's idempotency key)."""
    return {"notification": {
        "id": key,
        "event_id": key,
        "room_id": channel_id,
        "room_name": room_name,
        "type": "message",
        "prio": "high",
        "sender": sender,
        "sender_display_name": sender_name,
        "content": {"body": body, "msgtype": "m.text"},
        "counts": {"unread": badge},
        "cellchat": {"workspace_id": workspace_id, "reason": reason, "messages": messages,
                     "count": len(messages)},
        "devices": [{"app_id": device["app_id"], "pushkey": device["pushkey"],
                     "pushkey_ts": int(device["created_at"].timestamp()), "data": {}}],
    }}


async def send(egress: Egress, url: str, body: dict[str, Any], pushkey: str) -> Answer:
    """POST one notification; what became of it."""
    try:
        answer = await egress.post(url, orjson.dumps(body), {"Content-Type": "application/json"})
    except Refused as exc:
        return Answer("rejected", f"refused: {exc}"[:500])
    status = answer.status
    if status is None:
        return Answer("retry", answer.failure)
    if status in (408, 429) or status >= 500 or 300 <= status < 400:
        return Answer("retry", f"HTTP {status}")
    if 400 <= status < 500:
        return Answer("rejected", f"HTTP {status}: {answer.body[:300].decode('utf-8', 'replace')}")
    try:
        parsed = orjson.loads(answer.body) if answer.body else {}
    except orjson.JSONDecodeError:
        return Answer("retry", "the gateway's answer is not JSON")
    rejected = parsed.get("rejected", []) if isinstance(parsed, dict) else None
    if rejected is None:
        return Answer("retry", "the gateway's answer is not a JSON object")
    if isinstance(rejected, list) and pushkey in rejected:
        return Answer("rejected", "the gateway rejected the pushkey")
    return Answer("sent")


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Exponential backoff after ``attempts`` failed tries: base, 2·base, 4·base, … up to ``cap``."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))
