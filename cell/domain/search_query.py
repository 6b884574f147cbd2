"""Slack's search query language, parsed into a plain description (pure, no I/O).

What people type: words (all must match), ``"exact phrase"``, ``-word`` / ``-"phrase"`` to
exclude, ``word*`` for a prefix, and modifiers: ``in:#channel``, ``in:<#C…>``, ``in:@user``
(the DM with them), ``from:@user``, ``from:<@U…>``, ``from:me``, ``before:``/``after:``/
``on:`` (``YYYY-MM-DD``, ``yesterday``, ``today``), ``during:`` (a day, ``YYYY-MM``,
``YYYY``), ``has:link``, ``has:reaction``, ``has:pin``, ``has:file``, ``is:thread``.
A modifier this module does not know, or one with a value it cannot read, is searched
as text. Dates are days in the searcher's time zone; ``after:`` is strictly after the
day, ``before:`` strictly before it (as in Slack).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from cell.errors import CellError

MAX_QUERY_CHARS = 1000
HAS = frozenset({"link", "reaction", "pin", "file"})  # has:file: the message carries a file
_MODIFIER = re.compile(r"^(in|from|before|after|on|during|has|is):(.+)$", re.IGNORECASE)
_CHANNEL_REF = re.compile(r"^<#([CGD][A-Z0-9]+)(?:\|[^>]*)?>$")
_USER_REF = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")
# A token: an optional minus, then a quoted phrase (closed or running to the end) or a bare word.
_TOKEN = re.compile(r'(-?)(?:["“”]([^"“”]*)(?:["“”]|$)|(\S+))')


@dataclass(frozen=True, slots=True)
class Term:
    """Text to match: its words in order (a phrase when there are several)."""

    text: str
    negated: bool = False
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """``in:``: a channel by id or by name, or the DM with a person (``user``)."""

    channel_id: str | None = None
    name: str | None = None
    user: UserRef | None = None


@dataclass(frozen=True, slots=True)
class UserRef:
    user_id: str | None = None
    name: str | None = None
    me: bool = False


@dataclass(slots=True)
class Query:
    terms: list[Term] = field(default_factory=list)
    channels: list[ChannelRef] = field(default_factory=list)
    authors: list[UserRef] = field(default_factory=list)
    after: int | None = None   # microseconds, inclusive
    before: int | None = None  # microseconds, exclusive
    has: set[str] = field(default_factory=set)
    is_thread: bool = False

    @property
    def positive(self) -> list[Term]:
        return [t for t in self.terms if not t.negated]

    @property
    def negative(self) -> list[Term]:
        return [t for t in self.terms if t.negated]


def _day_start(day: dt.date, tz: ZoneInfo) -> int:
    moment = dt.datetime(day.year, day.month, day.day, tzinfo=tz)
    return int(moment.timestamp()) * 1_000_000


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _span(value: str, today: dt.date, *, periods: bool) -> tuple[dt.date, dt.date] | None:
    """``[first day, day after the last)`` of a date value; None when it is not one."""
    value = value.lower()
    if value in ("today", "yesterday"):
        day = today if value == "today" else today - dt.timedelta(days=1)
        return day, day + dt.timedelta(days=1)
    try:
        if match := _DAY.match(value):
            day = dt.date(int(match[1]), int(match[2]), int(match[3]))
            return day, day + dt.timedelta(days=1)
        if periods and (match := _MONTH.match(value)):
            first = dt.date(int(match[1]), int(match[2]), 1)
            return first, _next_month(first)
        if periods and (match := _YEAR.match(value)):
            year = int(match[1])
            return dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
    except (ValueError, OverflowError):
        return None
    return None


def _user_ref(value: str) -> UserRef | None:
    if value.lower() == "me":
        return UserRef(me=True)
    if match := _USER_REF.match(value):
        return UserRef(user_id=match[1])
    name = value[1:] if value.startswith("@") else value
    return UserRef(name=name.lower()) if name else None


def _channel_ref(value: str) -> ChannelRef | None:
    if match := _CHANNEL_REF.match(value):
        return ChannelRef(channel_id=match[1])
    if value.startswith("@") or _USER_REF.match(value):
        user = _user_ref(value)
        return ChannelRef(user=user) if user else None
    name = value[1:] if value.startswith("#") else value
    return ChannelRef(name=name.lower()) if name else None


def _modifier(query: Query, key: str, value: str, today: dt.date, tz: ZoneInfo) -> bool:
    """Apply one modifier; False when it is not one this parser reads (then it is text)."""
    key = key.lower()
    if key == "in":
        channel = _channel_ref(value)
        if channel is None:
            return False
        query.channels.append(channel)
        return True
    if key == "from":
        user = _user_ref(value)
        if user is None:
            return False
        query.authors.append(user)
        return True
    if key == "has":
        if value.lower() not in HAS:
            return False
        query.has.add(value.lower())
        return True
    if key == "is":
        if value.lower() != "thread":
            return False
        query.is_thread = True
        return True
    span = _span(value, today, periods=key == "during")
    if span is None:
        return False
    first, end = _day_start(span[0], tz), _day_start(span[1], tz)
    if key == "before":
        query.before = min(query.before or first, first)
    elif key == "after":
        query.after = max(query.after or end, end)
    else:  # on, during
        query.after = max(query.after or first, first)
        query.before = min(query.before or end, end)
    return True


def parse(text: str, *, now: dt.datetime, tz: ZoneInfo) -> Query:
    """The query ``text`` means, for a searcher in ``tz`` at ``now``.

    Raises ``no_query`` for an empty query and ``invalid_arguments`` for one longer than
    ``MAX_QUERY_CHARS``. Anything else parses: text that is no modifier is searched as words.
    """
    if len(text) > MAX_QUERY_CHARS:
        raise CellError("invalid_arguments", detail=f"query is longer than {MAX_QUERY_CHARS} characters")
    text = text.replace("\x00", " ")
    if not text.strip():
        raise CellError("no_query")
    today = now.astimezone(tz).date()
    query = Query()
    for match in _TOKEN.finditer(text):
        negated, phrase, bare = bool(match[1]), match[2], match[3]
        if phrase is not None:
            if phrase.strip():
                query.terms.append(Term(phrase, negated=negated))
            continue
        if not negated and (modifier := _MODIFIER.match(bare)) and _modifier(
            query, modifier[1], modifier[2], today, tz
        ):
            continue
        prefix = bare.endswith("*")
        word = bare.rstrip("*")
        if word:
            query.terms.append(Term(word, negated=negated, prefix=prefix))
    return query


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def term_tsquery(lexemes: list[str], *, prefix: bool, scope: str = "") -> str | None:
    """A term's words as a tsquery phrase (``'a' <-> 'b':*``), each stored under ``scope`` (the
    workspace's prefix); None when it has no words."""
    if not lexemes:
        return None
    parts = [_quote(scope + lexeme) for lexeme in lexemes]
    if prefix:
        parts[-1] += ":*"
    phrase = " <-> ".join(parts)
    return f"({phrase})" if len(parts) > 1 else phrase


def tsquery(query: Query, lexemes: dict[str, list[str]], scope: str = "") -> tuple[str | None, bool]:
    """``(tsquery text, satisfiable)`` of the query's terms, given each term's words (stored
    under ``scope``, the workspace's prefix).

    A wanted term without words (punctuation only) is ignored; an excluded one too. The
    tsquery is None when no term has words. ``satisfiable`` is False when some wanted word
    could never have been stored (too long for a tsvector): nothing can match.
    """
    wanted: list[str] = []
    unwanted: list[str] = []
    satisfiable = True
    for term in query.terms:
        words = lexemes.get(term.text, [])
        if any(len((scope + word).encode()) > 2047 for word in words):
            if not term.negated:
                satisfiable = False
            continue
        part = term_tsquery(words, prefix=term.prefix, scope=scope)
        if part is not None:
            (unwanted if term.negated else wanted).append(part)
    if not wanted and not unwanted:
        return None, satisfiable
    if not wanted:
        return " & ".join(f"!{part}" for part in unwanted), satisfiable
    return " & ".join(wanted + [f"!{part}" for part in unwanted]), satisfiable


def highlight_words(query: Query, lexemes: dict[str, list[str]]) -> tuple[frozenset[str], tuple[str, ...]]:
    """The words to mark in results: ``(exact words, prefixes)`` of the wanted terms."""
    exact: set[str] = set()
    prefixes: list[str] = []
    for term in query.positive:
        words = lexemes.get(term.text, [])
        if term.prefix and words:
            exact.update(words[:-1])
            prefixes.append(words[-1])
        else:
            exact.update(words)
    return frozenset(exact), tuple(prefixes)
