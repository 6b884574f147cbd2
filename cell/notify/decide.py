"""Who is notified of a message, and why (pure: plain data in, plain data out).

The notification consumer (``cell.consumers.notifications``) gathers the facts with a few
set-based queries — the conversation's members, who is online, the thread's followers and
everyone's effective preferences — and hands them to :func:`decide`. Every rule lives here,
so the table-driven test (``tests/cell/test_notify_decide.py``) is the specification:

- never the author, never someone who is not a member;
- a **DM** (``im``/``mpim``) notifies every other member (reason ``dm``);
- ``<@U…>`` notifies that member (``mention``);
- ``<!channel>``/``<!everyone>`` notify every member, ``<!here>`` only members online now
  (``channel``, ``everyone``, ``here``), unless the person suppresses broadcasts there;
- a highlight **keyword** in the text notifies (``keyword``);
- a reply notifies the thread's **followers** (``thread``);
- level ``all`` also notifies of every top-level message (``message``); ``nothing`` and
  **mute** silence everything;
- **DND** at the message's time silences every notification (``held``: no desktop notification
  and never a push; the email digest still lists it), except a broadcast in a channel marked urgent.

The strongest reason wins (the order of :data:`REASONS`). Each notified person gets the RTM
``desktop_notification`` if online now, and is a push candidate either way (the sender pushes
only once the person has been inactive for the configured delay and has not read it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Level = Literal["all", "mentions", "nothing"]
Reason = Literal["dm", "mention", "channel", "everyone", "here", "keyword", "thread", "message"]
REASONS: tuple[Reason, ...] = ("dm", "mention", "channel", "everyone", "here", "keyword", "thread", "message")
BROADCAST_REASONS = frozenset({"channel", "everyone", "here"})


@dataclass(frozen=True, slots=True)
class Prefs:
    """One person's effective preferences for one conversation (global defaults applied)."""

    level: Level = "mentions"
    muted: bool = False
    keywords: tuple[str, ...] = ()
    suppress_broadcasts: bool = False  # @here/@channel/@everyone do not notify this person here
    dnd: bool = False  # do-not-disturb was on for this person when the message was posted


DEFAULT_PREFS = Prefs()


@dataclass(frozen=True, slots=True)
class Message:
    """The facts of one new message."""

    channel_id: str
    kind: Literal["public", "private", "im", "mpim"]
    author: str
    text: str
    mentions: tuple[str, ...] = ()  # user ids
    broadcasts: tuple[str, ...] = ()  # here, channel, everyone
    is_reply: bool = False
    reply_broadcast: bool = False  # a reply also shown in the channel
    urgent: bool = False  # the channel is marked urgent: its broadcasts break through DND


@dataclass(frozen=True, slots=True)
class Audience:
    """Who could be told: members, who is online now, the thread's followers, their prefs."""

    members: frozenset[str]
    online: frozenset[str] = frozenset()
    followers: frozenset[str] = frozenset()
    prefs: Mapping[str, Prefs] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    user: str
    reason: Reason
    desktop: bool  # RTM desktop_notification now (the person is online)
    push: bool = True  # a push candidate (sent only after the inactivity delay, if still unread)
    held: bool = False  # DND silences it: no desktop notification, never pushed (the digest tells it)


def keyword_pattern(keywords: Iterable[str]) -> re.Pattern[str] | None:
    """A case-insensitive whole-word pattern for highlight keywords (None if there are none)."""
    words = [re.escape(k.strip()) for k in keywords if k.strip()]
    if not words:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(sorted(words, key=len, reverse=True)) + r")(?!\w)", re.IGNORECASE)


def _reason(user: str, message: Message, audience: Audience, prefs: Prefs) -> Reason | None:
    if message.kind in ("im", "mpim"):
        return "dm"
    if user in message.mentions:
        return "mention"
    if not prefs.suppress_broadcasts:
        for broadcast in ("channel", "everyone"):
            if broadcast in message.broadcasts:
                return broadcast
        if "here" in message.broadcasts and user in audience.online:
            return "here"
    if prefs.keywords:
        pattern = keyword_pattern(prefs.keywords)
        if pattern is not None and pattern.search(message.text):
            return "keyword"
    if message.is_reply and user in audience.followers:
        return "thread"
    if prefs.level == "all" and (not message.is_reply or message.reply_broadcast):
        return "message"
    return None


def decide(message: Message, audience: Audience) -> list[Decision]:
    """Everyone to notify of ``message``, with the reason and the channels, sorted by user id."""
    decisions: list[Decision] = []
    for user in sorted(audience.members):
        if user == message.author:
            continue
        prefs = audience.prefs.get(user, DEFAULT_PREFS)
        if prefs.muted or prefs.level == "nothing":
            continue
        reason = _reason(user, message, audience, prefs)
        if reason is None:
            continue
        if prefs.dnd and not (message.urgent and reason in BROADCAST_REASONS):
            decisions.append(Decision(user, reason, desktop=False, held=True))
            continue
        decisions.append(Decision(user, reason, desktop=user in audience.online))
    return decisions

