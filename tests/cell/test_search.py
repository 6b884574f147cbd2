"""search.messages and search.all through the official slack_sdk: operators, sorts, highlight, paging,
freshness, edits and deletes, bad input. One cell and one corpus for the module; tests that write use
words of their own."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import psycopg
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.cell.search_support import World, backdated, shared_world, texts
from tests.support.cells import running_cell
from tests.support.infra import Infra

UTC = dt.UTC
NOW = dt.datetime.now(UTC)


def populate(w: World) -> World:
    w.post(w.alice, "general", "Deploy failed with ERR-4012 on api.example.com", "err")
    w.post(w.bob, "general", "we shipped release v1.2.3 of foo_bar today", "release")
    w.post(w.alice, "general", "mail bob@example.com or see https://docs.example.com/runbook", "link")
    w.post(w.carol, "ops", "東京タワーの点検は明日です", "cjk")
    w.post(w.alice, "ops", "party time :tada: the build is green", "emoji")
    w.post(w.alice, "ops", "the deployment window opens at noon", "window")
    root = w.post(w.bob, "general", "thread about the outage", "root")
    w.post(w.alice, "general", "outage reply with details", "reply", thread_ts=root)
    w.client(w.alice).reactions_add(channel=w.channels["general"], timestamp=w.ts["release"], name="eyes")
    w.client(w.alice).pins_add(channel=w.channels["general"], timestamp=w.ts["err"])
    w.post(w.alice, "dm", "direct words about lunch", "dm")
    backdated(w, w.alice, "general", "quarterly planning notes", dt.datetime(2026, 3, 14, 12, tzinfo=UTC))
    backdated(w, w.alice, "general", "quarterly budget notes", dt.datetime(2026, 3, 15, 12, tzinfo=UTC))
    backdated(w, w.bob, "general", "quarterly hiring notes", dt.datetime(2025, 7, 1, 12, tzinfo=UTC))
    yesterday = (NOW - dt.timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    backdated(w, w.alice, "general", "quarterly yesterday notes", yesterday)
    return w


@pytest.fixture(scope="module")
def world(infra: Infra) -> Iterator[World]:
    """The corpus on a cell that picks its plan itself (here: the GIN index, no statistics yet)."""
    with shared_world(infra) as w:
        yield populate(w)


@pytest.fixture(scope="module")
def walking(infra: Infra) -> Iterator[World]:
    """The same corpus on a cell made to walk messages newest first (the plan for common words)."""
    with shared_world(infra, search={"plan": "walk"}) as w:
        yield populate(w)


OPERATORS = [
    ("deploy failed", ["Deploy failed with ERR-4012 on api.example.com"]),
    ('"failed with"', ["Deploy failed with ERR-4012 on api.example.com"]),
    ('"with failed"', []),
    ("err-4012", ["Deploy failed with ERR-4012 on api.example.com"]),
    ("4012", ["Deploy failed with ERR-4012 on api.example.com"]),
    ("example.com -deploy", ["mail bob@example.com or see https://docs.example.com/runbook"]),
    ("api.example.com", ["Deploy failed with ERR-4012 on api.example.com"]),
    ("bob@example.com", ["mail bob@example.com or see https://docs.example.com/runbook"]),
    ("https://docs.example.com/runbook", ["mail bob@example.com or see https://docs.example.com/runbook"]),
    ("v1.2.3", ["we shipped release v1.2.3 of foo_bar today"]),
    ("foo_bar", ["we shipped release v1.2.3 of foo_bar today"]),
    ("東京タワー", ["東京タワーの点検は明日です"]),
    ("点検", ["東京タワーの点検は明日です"]),
    (":tada:", ["party time :tada: the build is green"]),
    ("the build", ["party time :tada: the build is green"]),
    ("deploy*", ["the deployment window opens at noon", "Deploy failed with ERR-4012 on api.example.com"]),
    ("deploy", ["Deploy failed with ERR-4012 on api.example.com"]),
    ("in:#ops the", ["the deployment window opens at noon", "party time :tada: the build is green"]),
    ("in:ops deployment", ["the deployment window opens at noon"]),
    ("from:@bob release", ["we shipped release v1.2.3 of foo_bar today"]),
    ("from:alice release", []),
    ("from:me lunch", ["direct words about lunch"]),
    ("in:@bob words", ["direct words about lunch"]),
    ("has:link", ["mail bob@example.com or see https://docs.example.com/runbook"]),
    ("has:reaction", ["we shipped release v1.2.3 of foo_bar today"]),
    ("has:pin", ["Deploy failed with ERR-4012 on api.example.com"]),
    ("is:thread", ["outage reply with details", "thread about the outage"]),
    ("quarterly before:2026-03-15", ["quarterly planning notes", "quarterly hiring notes"]),
    ("quarterly after:2026-03-14", ["quarterly yesterday notes", "quarterly budget notes"]),
    ("quarterly on:2026-03-15", ["quarterly budget notes"]),
    ("quarterly during:2026-03", ["quarterly budget notes", "quarterly planning notes"]),
    ("quarterly during:2025", ["quarterly hiring notes"]),
    ("quarterly on:yesterday", ["quarterly yesterday notes"]),
    ("quarterly before:today after:2026-12-31", []),
    ("nosuch:thing quarterly", []),
    ("in:#nowhere release", []),
    ("from:@nobody release", []),
    ("has:file", []),
]


@pytest.mark.parametrize(("query", "expected"), OPERATORS)
def test_operator(world: World, query: str, expected: list[str]) -> None:
    """Each of Slack's operators and modifiers finds exactly the messages it names (newest first)."""
    answer = world.client(world.alice).search_messages(query=query, sort="timestamp")
    assert (expected, len(expected)) == (texts(answer), answer["messages"]["total"])


@pytest.mark.parametrize(("query", "expected"), OPERATORS)
def test_operator_when_walking(walking: World, query: str, expected: list[str]) -> None:
    """The walk over the newest messages finds exactly what the index finds."""
    answer = walking.client(walking.alice).search_messages(query=query, sort="timestamp")
    assert (expected, len(expected)) == (texts(answer), answer["messages"]["total"])


def test_unknown_modifier_is_text(world: World) -> None:
    """A modifier Slack does not have is searched as words."""
    ts = world.post(world.alice, "general", "ticket status:blocked since monday")
    answer = world.client(world.alice).search_messages(query="status:blocked")
    assert [ts] == [m["ts"] for m in answer["messages"]["matches"]]


def test_match_shape(world: World) -> None:
    """A match carries Slack's fields: iid, team, channel details, user, username, ts, text, permalink,
    and thread_ts for a reply."""
    match = world.client(world.bob).search_messages(query="outage reply")["messages"]["matches"][0]
    general = world.channels["general"]
    assert {
        "team": world.ws.id, "user": world.alice.id, "username": "alice", "ts": world.ts["reply"],
        "thread_ts": world.ts["root"], "text": "outage reply with details", "type": "message",
        "channel": {"id": general, "name": "general", "is_channel": True, "is_private": False,
                    "is_im": False, "is_mpim": False},
    } == {key: (match[key] if key != "channel" else {k: match[key][k] for k in (
        "id", "name", "is_channel", "is_private", "is_im", "is_mpim")})
          for key in ("team", "user", "username", "ts", "thread_ts", "text", "type", "channel")}
    assert match["iid"] and f"/archives/{general}/p{world.ts['reply'].replace('.', '')}" in match["permalink"]


def test_dm_match_names_the_other_person(world: World) -> None:
    """In a DM match, the channel is an im named after the other person."""
    channel = world.client(world.bob).search_messages(query="lunch")["messages"]["matches"][0]["channel"]
    assert (world.channels["dm"], world.alice.id, True, True) == (
        channel["id"], channel["name"], channel["is_im"], channel["is_private"])


def test_highlight_marks_every_hit(world: World) -> None:
    """highlight=true wraps each matched word (and prefix hits) in Slack's \\ue000…\\ue001 markers."""
    answer = world.client(world.alice).search_messages(query="failed err-4012 deplo*", highlight=True)
    assert ["\ue000Deploy\ue001 \ue000failed\ue001 with \ue000ERR-4012\ue001 on api.example.com"] == texts(answer)
    plain = world.client(world.alice).search_messages(query="failed")
    assert ["Deploy failed with ERR-4012 on api.example.com"] == texts(plain)
    cjk = world.client(world.alice).search_messages(query="タワー", highlight=True)
    assert ["東京\ue000タワー\ue001の点検は明日です"] == texts(cjk)


def test_sort_timestamp_both_ways(world: World) -> None:
    """sort=timestamp is strictly by ts, newest first by default and oldest first with sort_dir=asc."""
    client = world.client(world.alice)
    desc = client.search_messages(query="quarterly", sort="timestamp")["messages"]["matches"]
    asc = client.search_messages(query="quarterly", sort="timestamp", sort_dir="asc")["messages"]["matches"]
    stamps = [m["ts"] for m in desc]
    assert (sorted(stamps, key=float, reverse=True), stamps[::-1], 4) == (stamps, [m["ts"] for m in asc], len(stamps))


def test_score_prefers_a_fresh_exact_hit(world: World) -> None:
    """sort=score: a fresh message with the exact phrase beats an old one where the words lie apart,
    and between equally relevant messages the newer ranks first."""
    old = backdated(world, world.bob, "general", "incident review: the notes of the review and more incident talk",
                    NOW - dt.timedelta(days=200))
    fresh = world.post(world.bob, "general", "incident review notes")
    older_same = backdated(world, world.bob, "general", "incident review notes", NOW - dt.timedelta(days=30))
    matches = world.client(world.alice).search_messages(query="incident review")["messages"]["matches"]
    assert [fresh, older_same, old] == [m["ts"] for m in matches]
    assert matches[0]["score"] > matches[1]["score"] > matches[2]["score"]


def test_paging_totals(world: World) -> None:
    """count and page slice the matches; total, pages and pagination describe all of them."""
    client = world.client(world.alice)
    posted = [world.post(world.alice, "ops", f"paging word number {i}") for i in range(7)]
    pages = [client.search_messages(query="paging word", sort="timestamp", count=3, page=p)["messages"]
             for p in (1, 2, 3, 4)]
    assert [posted[::-1][0:3], posted[::-1][3:6], posted[::-1][6:], []] == [
        [m["ts"] for m in page["matches"]] for page in pages]
    assert {"count": 3, "total": 7, "page": 3, "pages": 3} == pages[2]["paging"]
    assert {"total_count": 7, "page": 3, "per_page": 3, "page_count": 3, "first": 7, "last": 7} == (
        pages[2]["pagination"])
    assert [7, 7, 7, 7] == [page["total"] for page in pages]


def test_search_all_has_messages(world: World) -> None:
    """search.all answers the same messages as search.messages."""
    client = world.client(world.alice)
    everything = client.search_all(query="quarterly", sort="timestamp")
    assert texts(client.search_messages(query="quarterly", sort="timestamp")) == texts(everything)


def test_found_as_soon_as_posted(world: World) -> None:
    """A message is found by the very next call after chat.postMessage returned, every time."""
    client = world.client(world.bob)
    missed = []
    for i in range(10):
        ts = world.post(world.bob, "general", f"freshness probe zq{i}x")
        if [ts] != [m["ts"] for m in client.search_messages(query=f"zq{i}x")["messages"]["matches"]]:
            missed.append(i)
    assert missed == []


def test_edit_is_found_by_new_text_only(world: World) -> None:
    """After chat.update the message is found by its new words and no longer by its old ones."""
    client = world.client(world.alice)
    ts = world.post(world.alice, "general", "draft mentions platypus")
    client.chat_update(channel=world.channels["general"], ts=ts, text="final mentions echidna")
    assert ([], [ts]) == (
        [m["ts"] for m in client.search_messages(query="platypus")["messages"]["matches"]],
        [m["ts"] for m in client.search_messages(query="echidna")["messages"]["matches"]])


def test_deleted_is_never_found(world: World) -> None:
    """A deleted message, and the replies of a deleted thread, are gone from search at once."""
    client = world.client(world.alice)
    root = world.post(world.alice, "general", "wombat thread root")
    world.post(world.bob, "general", "wombat reply", thread_ts=root)
    single = world.post(world.alice, "general", "wombat single")
    client.chat_delete(channel=world.channels["general"], ts=root)
    client.chat_delete(channel=world.channels["general"], ts=single)
    assert 0 == client.search_messages(query="wombat")["messages"]["total"]


def _error(call: object) -> str:
    with pytest.raises(SlackApiError) as raised:
        call()  # type: ignore[operator]
    return str(raised.value.response["error"])


@pytest.mark.parametrize(("args", "error"), [
    ({"query": ""}, "no_query"),
    ({"query": "   "}, "no_query"),
    ({"query": "x" * 1001}, "invalid_arguments"),
    ({"query": "x", "count": 0}, "invalid_arguments"),
    ({"query": "x", "count": 101}, "invalid_arguments"),
    ({"query": "x", "page": 0}, "invalid_arguments"),
    ({"query": "x", "page": 101}, "invalid_arguments"),
    ({"query": "x", "sort": "relevance"}, "invalid_arguments"),
    ({"query": "x", "sort_dir": "up"}, "invalid_arguments"),
    ({"query": "nul\x00byte"}, "invalid_arguments"),  # PostgreSQL text cannot hold NUL
])
def test_bad_arguments(world: World, args: dict[str, object], error: str) -> None:
    """Out-of-range or malformed arguments get a precise Slack error."""
    assert error == _error(lambda: world.client(world.alice).search_messages(**args))


@pytest.mark.parametrize("query", [
    "& | ! ( ) : * ' \\", "'", "a & b", "!(x)", "foo:*", "\"unbalanced quote",
    "x" * 1000, "-", "*", "-\"\"", "<@U123", "in:", "from:", "before:2026-02-30", "during:9999-99",
    "\u0001\u200d\ufeff", "😀" * 300,
])
def test_hostile_queries_are_answered(world: World, query: str) -> None:
    """tsquery metacharacters, unbalanced quotes, NUL bytes and odd modifiers: ok, never a 500."""
    answer = world.client(world.alice).search_messages(query=query)
    assert (True, query) == (answer["ok"], answer["query"])


def test_statement_timeout_is_a_slack_error(infra: Infra) -> None:
    """A search the statement timeout stops (here: waiting for a lock) answers request_timeout, not a 500."""
    with running_cell(infra, search={"statement_timeout_ms": 300}) as cell:
        owner = cell.workspace("slow").owner
        client = WebClient(token=owner.token, base_url=cell.api)
        with psycopg.connect(cell.dsn) as conn:
            conn.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
            assert "request_timeout" == _error(lambda: client.search_messages(query="anything"))


def test_search_files_and_has_file(world: World) -> None:
    """search.files finds files by the words of their name and title, only where the searcher may
    read them; has:file finds the messages that carry a file; search.all answers both."""
    alice = world.client(world.alice)
    shared = alice.files_upload_v2(channel=world.channels["general"], content=b"numbers\n",
                                   filename="budget-2026.txt", title="Kangaroo budget")["file"]["id"]
    hidden = alice.files_upload_v2(channel=world.channels["secret"], content=b"secret numbers\n",
                                   filename="kangaroo-secret.txt")["file"]["id"]
    carol = world.client(world.carol)
    assert ([hidden, shared], [shared], [shared]) == (
        [f["id"] for f in alice.search_files(query="kangaroo", sort="timestamp")["files"]["matches"]],
        [f["id"] for f in carol.search_files(query="kangaroo")["files"]["matches"]],
        [f["id"] for f in carol.search_files(query="budget 2026")["files"]["matches"]])
    with_file = carol.search_messages(query="has:file")["messages"]["matches"]
    assert [(world.channels["general"], [shared], "Kangaroo budget")] == [
        (m["channel"]["id"], [f["id"] for f in m["files"]], m["files"][0]["title"]) for m in with_file]
    everything = carol.search_all(query="kangaroo")
    assert ([shared], 1) == ([f["id"] for f in everything["files"]["matches"]], everything["files"]["total"])


def test_attachment_and_block_text_is_found(world: World) -> None:
    """Words that live only in attachments (pretext, title, text, fallback, fields) or in blocks
    (section, fields, header, context, rich_text) find their message; an edit that drops them
    stops finding it."""
    bob = world.client(world.bob)
    ts = world.post(world.bob, "general", "see details", attachments=[{
        "pretext": "wombatpre", "title": "wombattitle", "text": "wombattext", "fallback": "wombatfall",
        "fields": [{"title": "wombatfieldname", "value": "wombatfieldvalue", "short": True}]}])
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "numbatheader"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "numbat *section*"},
         "fields": [{"type": "mrkdwn", "text": "numbatfield"}]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "numbatcontext"}]},
        {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [
            {"type": "text", "text": "numbat rich words"}]}]},
    ]
    block_ts = world.post(world.bob, "general", "block message", blocks=blocks)
    for word in ["wombatpre", "wombattitle", "wombattext", "wombatfall", "wombatfieldname", "wombatfieldvalue"]:
        assert [ts] == [m["ts"] for m in bob.search_messages(query=word)["messages"]["matches"]], word
    for word in ["numbatheader", "section", "numbatfield", "numbatcontext", '"numbat rich words"']:
        assert [block_ts] == [m["ts"] for m in bob.search_messages(query=f"numbat {word}")["messages"]["matches"]], word
    bob.chat_update(channel=world.channels["general"], ts=ts, text="see details", attachments=[])
    assert ([], [ts]) == ([m["ts"] for m in bob.search_messages(query="wombattext")["messages"]["matches"]],
                          [m["ts"] for m in bob.search_messages(query='"see details"')["messages"]["matches"]])


def test_search_all_posts_block(world: World) -> None:
    """search.all answers Slack's posts block: no posts exist here, so it is empty, with paging."""
    posts = world.client(world.alice).search_all(query="quarterly")["posts"]
    assert {"total": 0, "matches": []} == {k: posts[k] for k in ("total", "matches")}
    assert {"count": 20, "total": 0, "page": 1, "pages": 0} == posts["paging"]


def test_totals_are_exact_past_the_ranking_window(infra: Infra) -> None:
    """With more matches than the cell ranks (max_matches), total and pages stay exact, whether
    the cell walks by time or uses the index, for words and for modifiers alone."""
    for plan in ("walk", "index"):
        with shared_world(infra, search={"plan": plan, "max_matches": 5}) as w:
            for i in range(12):
                w.post(w.alice, "general", f"gnu herd {i}")
            w.post(w.alice, "ops", "gnu elsewhere")
            client = w.client(w.alice)
            for query, total in [("gnu", 13), ("gnu in:#general", 12), ("in:#general", 12), ("herd -elsewhere", 12)]:
                answer = client.search_messages(query=query, count=2, page=4, sort="timestamp")["messages"]
                assert (total, -(-total // 2), 2) == (
                    answer["total"], answer["paging"]["pages"], len(answer["matches"])), (plan, query)
            files_total = client.search_files(query="gnu")["files"]["total"]
            assert 0 == files_total
