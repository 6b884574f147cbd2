"""Global, typed, Slack-style ids: ``T`` workspace, ``C`` channel, ``D`` DM, ``G`` group DM,
``U`` user, ``B`` bot, ``F`` file, ``H`` legal hold, ``A`` app. Random, so rows can move between cells unchanged."""

from __future__ import annotations

import re
import secrets

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ID = re.compile(r"^[TCDGUBFKHA][A-Z0-9]{8,20}$")

WORKSPACE, CHANNEL, DM, GROUP_DM, USER, BOT, FILE, TOKEN = "T", "C", "D", "G", "U", "B", "F", "K"
HOLD = "H"  # a legal hold (docs/compliance.md)
APP = "A"  # an app (docs/integrations.md)


def new_id(kind: str) -> str:
    return kind + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def is_id(value: str, kinds: str) -> bool:
    """True when ``value`` is well formed and its prefix is one of ``kinds``."""
    return bool(_ID.match(value)) and value[0] in kinds


CONVERSATION_KINDS = CHANNEL + DM + GROUP_DM
