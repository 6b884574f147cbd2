"""The search query parser (pure) and the tokeniser, property-tested; and hostile strings through the API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cell.domain import search_query, search_text
from cell.errors import CellError
from tests.cell.search_support import World, shared_world
from tests.support.infra import Infra

NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
UTC = ZoneInfo("UTC")
# Characters that matter to the parser and to tsquery syntax, and a bit of everything else.
QUERY_TEXT = st.lists(st.one_of(
    st.sampled_from(list("\"“”-*:&|!()'\\<>@#_.,/ \t\n\x00")),
    st.sampled_from(["in:", "from:", "before:", "after:", "on:", "during:", "has:", "is:", "me", "thread",
                     "link", "2026-11-05", "2026-11", "today", "<#C1>", "<@U1>", "東京", "🎉"]),
    st.characters(codec="utf-8"),
), max_size=40).map("".join)


@given(QUERY_TEXT)
def test_parser_accepts_anything_or_says_why(text: str) -> None:
    """Any string parses, or is refused with no_query (nothing to search) / invalid_arguments (too long)."""
    try:
        query = search_query.parse(text, now=NOW, tz=UTC)
    except CellError as exc:
        assert exc.code == ("no_query" if not text.replace("\x00", " ").strip() else "invalid_arguments")
        return
    words = {term.text: [w.lexeme for w in search_text.words(term.text)] for term in query.terms}
    tsquery, _ = search_query.tsquery(query, words)
    assert tsquery is None or tsquery.strip()


def test_parser_reads_modifiers() -> None:
    """Words, phrases, exclusions, prefixes and modifiers land where they belong."""
    query = search_query.parse('deploy "exact words" -noise pre* in:#ops in:<#C9|x> in:@bob from:me '
                               'from:<@U7> after:2026-11-01 before:yesterday has:link is:thread odd:thing',
                               now=NOW, tz=UTC)
    assert [("deploy", False, False), ("exact words", False, False), ("noise", True, False),
            ("pre", False, True), ("odd:thing", False, False)] == [
        (t.text, t.negated, t.prefix) for t in query.terms]
    assert [search_query.ChannelRef(name="ops"), search_query.ChannelRef(channel_id="C9"),
            search_query.ChannelRef(user=search_query.UserRef(name="bob"))] == query.channels
    assert [search_query.UserRef(me=True), search_query.UserRef(user_id="U7")] == query.authors
    day = 86_400_000_000
    nov2 = int(dt.datetime(2026, 11, 2, tzinfo=dt.UTC).timestamp()) * 1_000_000
    assert (nov2, nov2 + 17 * day, {"link"}, True) == (query.after, query.before, query.has, query.is_thread)


def test_dates_are_days_in_the_searchers_zone() -> None:
    """on: a day is that day in the searcher's time zone."""
    tokyo = search_query.parse("on:2026-11-05", now=NOW, tz=ZoneInfo("Asia/Tokyo"))
    start = int(dt.datetime(2026, 11, 5, tzinfo=ZoneInfo("Asia/Tokyo")).timestamp()) * 1_000_000
    assert (start, start + 86_400_000_000) == (tokyo.after, tokyo.before)


@pytest.fixture(scope="module")
def world(infra: Infra) -> Iterator[World]:
    with shared_world(infra) as w:
        w.post(w.alice, "general", "something to find: 東京 ERR-4012 foo_bar")
        yield w


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(QUERY_TEXT)
def test_api_answers_any_query(world: World, text: str) -> None:
    """Through the real API, any query string gets ok or a Slack error code, never a 500."""
    answer = httpx.post(f"{world.cell.api}search.messages", data={"query": text, "highlight": "true"},
                        headers={"Authorization": f"Bearer {world.alice.token}"})
    body = answer.json()
    assert answer.status_code == 200 and (body["ok"] or body["error"] in ("no_query", "invalid_arguments"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.one_of(st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Z"]),
                         st.sampled_from(list("東京タワー🎉ÄÖÜßΩЖ&;amp_-.@ ABC\uff11\uff12"))), max_size=40))
def test_python_words_are_the_stored_words(world: World, text: str) -> None:
    """The highlighter's words (Python) equal the words the database stores for the same text (letters,
    digits, punctuation, symbols and spaces of every script; the highlighter folds character by character,
    which exotic combining sequences may tell apart)."""
    with psycopg.connect(world.cell.dsn) as conn:
        row = conn.execute(
            "SELECT coalesce((SELECT array_agg(v.lexeme ORDER BY p.pos) FROM unnest(to_tsvector('simple',"
            " cellchat_search_text(%s))) v, unnest(v.positions) p(pos)), '{}')", (text,)).fetchone()
    assert row is not None
    assert list(row[0]) == [w.lexeme for w in search_text.words(text)]


@pytest.mark.parametrize("workspace_id", ["T0000000046", "T0000000048", "T0000000056", "TABCDEFGHIJ"])
def test_stored_words_are_whole_under_any_workspace_prefix(world: World, workspace_id: str) -> None:
    """Each word is stored whole under the workspace's prefix, also when the prefix's hex digits read
    as a number in exponent notation (md5 of these ids starts 9e9…, 443e3…, 60e1…)."""
    from cell.store.search import scope

    with psycopg.connect(world.cell.dsn) as conn:
        row = conn.execute("SELECT tsvector_to_array(cellchat_search_vector(%s, NULL, 'cavani 4012 東'))",
                           (workspace_id,)).fetchone()
    assert row is not None
    prefix = scope(workspace_id)
    assert sorted([workspace_id, prefix + "cavani", prefix + "4012", prefix + "東"]) == sorted(row[0])
