"""Mentions in a message: ``<@U…>``, ``<!here>``, ``<!channel>``, ``<!everyone>`` (pure).

They are read from the text (Slack's mrkdwn markup) and from rich-text blocks
(``{"type": "user", "user_id": …}`` and ``{"type": "broadcast", "range": …}``
elements), which is what Slack's own clients send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_USER = re.compile(r"<@([UW][A-Z0-9]{8,20})(?:\|[^>]*)?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
BROADCASTS = ("here", "channel", "everyone")
_MAX_NODES = 10_000  # blocks are bounded by the body limit; this bounds the walk too


@dataclass(frozen=True, slots=True)
class Mentions:
    users: tuple[str, ...]
    broadcasts: tuple[str, ...]  # subset of here, channel, everyone

    @property
    def targets(self) -> list[str]:
        """What the ``mentions`` table stores: user ids and broadcast names."""
        return [*self.users, *self.broadcasts]


def _from_blocks(blocks: Any) -> tuple[list[str], list[str]]:
    users: list[str] = []
    broadcasts: list[str] = []
    stack: list[Any] = [blocks]
    seen = 0
    while stack and seen < _MAX_NODES:
        node = stack.pop()
        seen += 1
        if isinstance(node, list):
            stack.extend(reversed(node))
        elif isinstance(node, dict):
            kind = node.get("type")
            if kind == "user" and isinstance(node.get("user_id"), str) and _USER.match(f"<@{node['user_id']}>"):
                users.append(node["user_id"])
            elif kind == "broadcast" and node.get("range") in BROADCASTS:
                broadcasts.append(node["range"])
            stack.extend(reversed([v for v in node.values() if isinstance(v, (list, dict))]))
    return users, broadcasts


def parse_mentions(text: str, blocks: Any = None) -> Mentions:
    """Who ``text`` (and ``blocks``, if any) mention, each once, in order of appearance."""
    users = _USER.findall(text)
    broadcasts = _SPECIAL.findall(text)
    if blocks is not None:
        block_users, block_broadcasts = _from_blocks(blocks)
        users += block_users
        broadcasts += block_broadcasts
    return Mentions(tuple(dict.fromkeys(users)), tuple(dict.fromkeys(broadcasts)))
