"""Mentions in message text: ``<@U…>``, ``<!here>``, ``<!channel>``, ``<!everyone>``."""

from __future__ import annotations

import re
from dataclasses import dataclass

_USER = re.compile(r"<@([UB][A-Z0-9]{8,20})(?:\|[^>]*)?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")


@dataclass(frozen=True, slots=True)
class Mentions:
    users: tuple[str, ...]
    broadcasts: tuple[str, ...]  # subset of here, channel, everyone


def parse_mentions(text: str) -> Mentions:
    users = tuple(dict.fromkeys(_USER.findall(text)))
    broadcasts = tuple(dict.fromkeys(_SPECIAL.findall(text)))
    return Mentions(users, broadcasts)
