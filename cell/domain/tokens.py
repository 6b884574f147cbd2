"""The token format: the one contract the router shares with cells.

``xoxp-<workspace>-<token id>-<secret>`` for users, ``xoxb-...`` for bots, ``xapp-...`` for
an app's app-level token (Socket Mode: docs/integrations.md). The
workspace is readable without any lookup (that is what the router routes on);
only the cell that owns the workspace can verify the secret against its hash.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from cell.domain import ids

USER_TOKEN, BOT_TOKEN, APP_TOKEN = "xoxp", "xoxb", "xapp"
KINDS = (USER_TOKEN, BOT_TOKEN, APP_TOKEN)


@dataclass(frozen=True, slots=True)
class TokenParts:
    kind: str
    workspace_id: str
    token_id: str
    secret: str


def mint(kind: str, workspace_id: str) -> tuple[str, TokenParts]:
    parts = TokenParts(kind, workspace_id, ids.new_id(ids.TOKEN), secrets.token_urlsafe(24))
    return f"{kind}-{workspace_id}-{parts.token_id}-{parts.secret}", parts


def parse(token: str) -> TokenParts | None:
    """The parts of a well-formed token, else None. Says nothing about validity."""
    pieces = token.split("-", 3)
    if len(pieces) != 4:
        return None
    kind, workspace_id, token_id, secret = pieces
    if kind not in KINDS or not secret:
        return None
    if not ids.is_id(workspace_id, ids.WORKSPACE) or not ids.is_id(token_id, ids.TOKEN):
        return None
    return TokenParts(kind, workspace_id, token_id, secret)


def workspace_of(token: str) -> str | None:
    parts = parse(token)
    return parts.workspace_id if parts else None


def hash_secret(secret: str) -> str:
    # The secret is 192 random bits, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(secret.encode()).hexdigest()


# Admin tokens that ship in code, docs or charts: anyone can read them, so no deployment but a
# developer's own may start with one (``dev`` in each service's settings allows it).
KNOWN_DEFAULTS = frozenset({"", "dev-admin-token", "change-me", "changeme", "admin", "secret"})


def known_default(*secrets_: str) -> bool:
    """True when any of ``secrets_`` is a published default (or empty)."""
    return any(secret.strip() in KNOWN_DEFAULTS for secret in secrets_)
