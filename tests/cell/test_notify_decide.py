"""The decision rules of notifications, as a table: each row is a message, who could be told,
and exactly who gets what (reason; desktop = RTM now, push = push candidate) on which channel."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cell.notify import prefs as notify_prefs
from cell.notify.decide import (
    DEFAULT_PREFS,
    Audience,
    Decision,
    Message,
    Prefs,
    decide,
    keyword_pattern,
)

AUTHOR, ANN, BOB, CAT = "UAUTHOR0001", "UANN000001", "UBOB000001", "UCAT000001"
EVERYONE = frozenset({AUTHOR, ANN, BOB, CAT})


@dataclass(frozen=True)
class Row:
    name: str
    message: Message
    audience: Audience
    expected: list[tuple[str, str, bool] | tuple[str, str, bool, bool]]  # (user, reason, desktop[, held by DND])


def msg(text: str = "hello", *, kind: str = "public", mentions: tuple[str, ...] = (),
        broadcasts: tuple[str, ...] = (), reply: bool = False, urgent: bool = False,
        reply_broadcast: bool = False) -> Message:
    return Message("C0GENERAL01", kind, AUTHOR, text, mentions, broadcasts,  # type: ignore[arg-type]
                   is_reply=reply, reply_broadcast=reply_broadcast, urgent=urgent)


def aud(members: frozenset[str] = EVERYONE, *, online: frozenset[str] = frozenset(),
        followers: frozenset[str] = frozenset(), **prefs: Prefs) -> Audience:
    by_user = {{"ann": ANN, "bob": BOB, "cat": CAT, "author": AUTHOR}[k]: v for k, v in prefs.items()}
    return Audience(members, online, followers, by_user)


ROWS = [
    Row("plain message notifies nobody at the default level", msg(), aud(online=EVERYONE), []),
    Row("DM notifies the other member, on desktop when online",
        msg(kind="im"), aud(frozenset({AUTHOR, ANN}), online=frozenset({ANN})), [(ANN, "dm", True)]),
    Row("DM to someone offline: push only",
        msg(kind="im"), aud(frozenset({AUTHOR, ANN})), [(ANN, "dm", False)]),
    Row("group DM notifies every other member",
        msg(kind="mpim"), aud(frozenset({AUTHOR, ANN, BOB})), [(ANN, "dm", False), (BOB, "dm", False)]),
    Row("mention notifies the mentioned member only",
        msg(f"hi <@{BOB}>", mentions=(BOB,)), aud(online=frozenset({BOB})), [(BOB, "mention", True)]),
    Row("mention of a non-member notifies nobody",
        msg(f"hi <@{CAT}>", mentions=(CAT,)), aud(frozenset({AUTHOR, ANN})), []),
    Row("@here notifies members online now, not the offline ones",
        msg(broadcasts=("here",)), aud(online=frozenset({AUTHOR, ANN})), [(ANN, "here", True)]),
    Row("@here with the target offline notifies nobody",
        msg(broadcasts=("here",)), aud(online=frozenset({AUTHOR})), []),
    Row("@channel notifies every member but the author, online or not",
        msg(broadcasts=("channel",)), aud(online=frozenset({BOB})),
        [(ANN, "channel", False), (BOB, "channel", True), (CAT, "channel", False)]),
    Row("@everyone is a broadcast too",
        msg(broadcasts=("everyone",)), aud(frozenset({AUTHOR, ANN})), [(ANN, "everyone", False)]),
    Row("broadcast suppressed by a person in this channel",
        msg(broadcasts=("channel",)), aud(frozenset({AUTHOR, ANN, BOB}), ann=Prefs(suppress_broadcasts=True)),
        [(BOB, "channel", False)]),
    Row("keyword notifies, whole word and any case",
        msg("The DEPLOY is done; redeployment next"), aud(ann=Prefs(keywords=("deploy",)),
                                                         bob=Prefs(keywords=("ploy",))),
        [(ANN, "keyword", False)]),
    Row("reply notifies the thread's followers",
        msg(reply=True), aud(followers=frozenset({AUTHOR, BOB})), [(BOB, "thread", False)]),
    Row("level all: every top-level message, not others' thread replies",
        msg(), aud(ann=Prefs(level="all")), [(ANN, "message", False)]),
    Row("level all and a reply that is not followed: nothing",
        msg(reply=True), aud(ann=Prefs(level="all")), []),
    Row("level all and a reply broadcast to the channel",
        msg(reply=True, reply_broadcast=True), aud(ann=Prefs(level="all")), [(ANN, "message", False)]),
    Row("level nothing silences even a mention",
        msg(f"<@{ANN}>", mentions=(ANN,)), aud(ann=Prefs(level="nothing")), []),
    Row("mute silences a mention and a DM",
        msg(f"<@{ANN}>", kind="im", mentions=(ANN,)), aud(frozenset({AUTHOR, ANN}), ann=Prefs(muted=True)), []),
    Row("DND holds a mention",
        msg(f"<@{ANN}>", mentions=(ANN,)), aud(online=frozenset({ANN}), ann=Prefs(dnd=True)),
        [(ANN, "mention", False, True)]),
    Row("DND holds an @channel in an ordinary channel",
        msg(broadcasts=("channel",)), aud(frozenset({AUTHOR, ANN}), ann=Prefs(dnd=True)),
        [(ANN, "channel", False, True)]),
    Row("urgent: an @channel breaks through DND",
        msg(broadcasts=("channel",), urgent=True), aud(frozenset({AUTHOR, ANN}), ann=Prefs(dnd=True)),
        [(ANN, "channel", False)]),
    Row("urgent does not let a plain mention through DND",
        msg(f"<@{ANN}>", mentions=(ANN,), urgent=True), aud(ann=Prefs(dnd=True)),
        [(ANN, "mention", False, True)]),
    Row("the author is never notified, whatever they mention",
        msg(f"<@{AUTHOR}> <!channel>", kind="public", mentions=(AUTHOR,), broadcasts=("channel",)),
        aud(frozenset({AUTHOR}), online=frozenset({AUTHOR}), author=Prefs(level="all")), []),
    Row("the strongest reason wins: mention over @channel over keyword",
        msg(f"<@{ANN}> <!channel> deploy", mentions=(ANN,), broadcasts=("channel",)),
        aud(frozenset({AUTHOR, ANN, BOB}), ann=Prefs(keywords=("deploy",)), bob=Prefs(keywords=("deploy",))),
        [(ANN, "mention", False), (BOB, "channel", False)]),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_decision_rules(row: Row) -> None:
    """Each row: exactly these people, for this reason, on desktop now or as push candidates."""
    expected = [Decision(e[0], e[1], desktop=e[2], held=len(e) > 3 and bool(e[-1])) for e in row.expected]  # type: ignore[arg-type]
    assert decide(row.message, row.audience) == expected


def test_the_rules_defaults_are_the_stored_defaults() -> None:
    """Someone without stored preferences is decided as notify-state's defaults say."""
    stored = notify_prefs.DEFAULT
    assert DEFAULT_PREFS == Prefs(stored.level, stored.muted, stored.keywords, stored.suppress_broadcasts, False)


def test_keyword_pattern_ignores_blank_keywords() -> None:
    """Blank keywords match nothing (no pattern at all when every keyword is blank)."""
    assert keyword_pattern(["", "  "]) is None
    pattern = keyword_pattern(["c++", " release "])
    assert pattern is not None and pattern.search("Our C++ Release") is not None
