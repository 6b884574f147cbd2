"""Email digests of missed notifications: their text, and sending them over SMTP (aiosmtplib).

A digest lists what the person missed since they went offline — the notifications still
unread and not in an earlier digest — grouped by conversation, never the whole history.
Its ``Message-ID`` is the digest's idempotency key, so a resend after a crash is detectable.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from cell.settings import NotifySettings

MAX_LINES = 50
SMTP_TIMEOUT_SECONDS = 30.0


def where(row: dict[str, Any], names: dict[str, str]) -> str:
    if row.get("kind") in ("im", "mpim"):
        return f"a direct message from {names.get(row['author'], row['author'])}"
    return f"#{row.get('channel_name') or row['channel_id']}"


def compose(workspace_name: str, person: str, rows: Sequence[dict[str, Any]],
            names: dict[str, str]) -> tuple[str, str]:
    """``(subject, body)`` of a digest of ``rows`` (notifications, oldest first)."""
    count = len(rows)
    subject = f"[{workspace_name}] You have {count} unread notification{'s' if count != 1 else ''}"
    lines = [f"Hi {person},", "", f"While you were away from {workspace_name}:", ""]
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(where(row, names), []).append(row)
    shown = 0
    for place, items in groups.items():
        lines.append(f"In {place}:")
        for row in items:
            if shown >= MAX_LINES:
                break
            lines.append(f"  {names.get(row['author'], row['author'])}: {row['snippet']}")
            shown += 1
        lines.append("")
    if shown < count:
        lines.append(f"…and {count - shown} more.")
    return subject, "\n".join(lines)


async def send(settings: NotifySettings, key: str, to: str, subject: str, body: str) -> None:
    """Send one digest; raises on failure (``aiosmtplib.SMTPException``, ``OSError``)."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{key}@cellchat.notifications>"
    message["X-Cellchat-Digest"] = key
    message.set_content(body)
    await aiosmtplib.send(
        message, hostname=settings.smtp_host, port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        start_tls=settings.smtp_starttls, timeout=SMTP_TIMEOUT_SECONDS,
    )
