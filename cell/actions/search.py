"""``search.messages``: Slack's query language over the cell's own PostgreSQL full-text index.

Fresh at once: the index is a generated column of ``messages``, written in the transaction
that posts, edits or deletes a message, so whatever ``chat.postMessage`` has returned is
found by the next search. One read-only snapshot per search, under a statement timeout.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cell.actions import files
from cell.actions.auth import Actor
from cell.domain import channels as channel_domain
from cell.domain import search_query
from cell.domain.messages import to_slack
from cell.domain.rows import MessageRow
from cell.domain.search_text import highlight
from cell.store import directory
from cell.store import search as store
from cell.store.db import Conn, Database

_IID = uuid.UUID("6b0c55d3-3f6e-4a43-9d1e-5ea2c0c1a7e1")


@dataclass(frozen=True, slots=True)
class Request:
    query: str
    sort: store.Sort = "score"
    descending: bool = True
    highlight: bool = False
    count: int = 20
    page: int = 1


@dataclass(frozen=True, slots=True)
class Limits:
    timeout_ms: int
    max_matches: int  # the matches one query counts exactly (and ranks, for sort=score)
    permalink: str    # e.g. "https://{domain}.example.com/archives/{channel}/p{ts}"
    plan: str = "auto"  # "index" or "walk" to force one way of finding matches (tests)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


async def _filters(conn: Conn, actor: Actor, query: search_query.Query, words: dict[str, list[str]]) -> (
    store.Filters | None
):
    """The store's filters for ``query``; None when nothing can match (an unknown channel...)."""
    tsquery, satisfiable = search_query.tsquery(query, words, store.scope(actor.workspace_id))
    if not satisfiable:
        return None
    has_filters = bool(query.channels or query.authors or query.after is not None
                       or query.before is not None or query.has or query.is_thread)
    if tsquery is None and not has_filters:
        return None  # only punctuation: nothing to look for
    filters = store.Filters(tsquery=tsquery, after=query.after, before=query.before,
                            has=set(query.has), is_thread=query.is_thread)
    if query.authors:
        ids = [a.user_id for a in query.authors if a.user_id] + [actor.user_id for a in query.authors if a.me]
        names = [a.name for a in query.authors if a.name]
        filters.authors = await store.user_ids(conn, actor.workspace_id, ids=ids, names=names)
        if not filters.authors:
            return None
    if query.channels:
        people = [c.user for c in query.channels if c.user is not None]
        dm_users = await store.user_ids(
            conn, actor.workspace_id,
            ids=[p.user_id for p in people if p.user_id] + [actor.user_id for p in people if p.me],
            names=[p.name for p in people if p.name],
        ) if people else []
        filters.channels = await store.channel_ids(
            conn, actor.workspace_id,
            ids=[c.channel_id for c in query.channels if c.channel_id],
            names=[c.name for c in query.channels if c.name],
            dm_keys=[channel_domain.dm_key([actor.user_id, other]) for other in dm_users],
        )
        if not filters.channels:
            return None
    return filters


_STATS: dict[str, tuple[float, store.WordStats]] = {}  # by database (its DSN)
STATS_SECONDS = 300.0


async def _word_stats(conn: Conn, db: Database) -> store.WordStats:
    """The statistics, read at most every ``STATS_SECONDS`` per database (ANALYZE moves slowly)."""
    cached = _STATS.get(db.dsn)
    if cached is None or time.monotonic() - cached[0] > STATS_SECONDS:
        cached = (time.monotonic(), await store.word_stats(conn))
        _STATS[db.dsn] = cached
    return cached[1]


def _estimate(query: search_query.Query, words: dict[str, list[str]], stats: store.WordStats,
              workspace_id: str) -> tuple[float, float]:
    """``(share of the workspace's messages the words match, the workspace's messages)``, from
    the statistics: words independent (as GIN intersects them), a prefix as common as the
    listed words it starts, anything unlisted at half the floor."""
    size = stats.frequent.get(workspace_id, stats.floor / 2)  # the workspace's share of the cell
    scope = store.scope(workspace_id)
    if size <= 0:
        return 0.0, 0.0

    def share(lexeme: str) -> float:
        return min(1.0, stats.frequent.get(scope + lexeme, stats.floor / 2) / size)

    result = 1.0
    for term in query.positive:
        lexemes = words.get(term.text, [])
        if not lexemes:
            continue
        for lexeme in lexemes[:-1] if term.prefix else lexemes:
            result *= share(lexeme)
        if term.prefix:
            started = sum(f for word, f in stats.frequent.items() if word.startswith(scope + lexemes[-1]))
            result *= min(1.0, max(started, stats.floor / 2) / size)
    return result, size * stats.messages


def _plan(share: float, workspace_messages: float, window: int, forced: str) -> Literal["index", "walk"]:
    """Walk the newest messages when that reads fewer rows (``window / share``) than the index
    hands over matches (``share * workspace_messages``)."""
    if forced in ("index", "walk"):
        return "walk" if forced == "walk" else "index"
    return "walk" if share > 0 and share * share * workspace_messages > window else "index"


def _channel(row: dict[str, Any], actor: Actor) -> dict[str, Any]:
    kind = row["kind"]
    name = row["name"]
    if kind == "im":
        others = [m for m in (row["dm_key"] or "").split(",") if m != actor.user_id]
        name = others[0] if others else actor.user_id
    return {
        "id": row["channel_id"], "name": name, "is_channel": kind in ("public", "private"),
        "is_group": kind == "private", "is_im": kind == "im", "is_mpim": kind == "mpim",
        "is_private": kind != "public", "is_shared": False, "is_ext_shared": False,
        "is_org_shared": False, "pending_shared": [], "is_pending_ext_shared": False,
    }


def _match(row: dict[str, Any], actor: Actor, limits: Limits, marks: tuple[frozenset[str], tuple[str, ...]] | None) -> (
    dict[str, Any]
):
    message = to_slack(cast(MessageRow, row))  # a message row plus the search's own columns
    ts = message["ts"]
    match: dict[str, Any] = {
        "iid": str(uuid.uuid5(_IID, f"{row['workspace_id']}/{row['channel_id']}/{ts}")),
        "type": "message", "team": row["workspace_id"], "channel": _channel(row, actor),
        "user": row["user_id"], "username": row["username"] or "", "ts": ts,
        "text": highlight(row["text"], *marks) if marks is not None else row["text"],
        "permalink": limits.permalink.format(
            domain=actor.domain, channel=row["channel_id"], ts=ts.replace(".", "")
        ) + (f"?thread_ts={message['thread_ts']}&cid={row['channel_id']}"
             if "thread_ts" in message and message["thread_ts"] != ts else ""),
        "score": round(float(row["score"] or 0), 6),
    }
    for key in ("thread_ts", "bot_id", "blocks", "attachments", "edited", "parent_user_id", "files"):
        if key in message:
            match[key] = message[key]
    return match


def _paging(total: int, request: Request) -> dict[str, Any]:
    pages = -(-total // request.count)
    first = min((request.page - 1) * request.count + 1, total)
    last = min(request.page * request.count, total)
    return {
        "total": total, "paging": {"count": request.count, "total": total, "page": request.page, "pages": pages},
        "pagination": {"total_count": total, "page": request.page, "per_page": request.count,
                       "page_count": pages, "first": first, "last": last},
    }


def no_posts(request: Request) -> dict[str, Any]:
    """``search.all``'s ``posts`` block in Slack's shape; Cellchat has no posts, so it is empty."""
    return {"matches": [], **_paging(0, request)}


async def _prepare(conn: Conn, actor: Actor, request: Request, limits: Limits) -> tuple[
    search_query.Query, dict[str, list[str]], store.Filters | None
]:
    await store.begin(conn)
    user = await directory.get_user(conn, actor.workspace_id, actor.user_id)
    await store.limit_time(conn, limits.timeout_ms)
    query = search_query.parse(request.query, now=dt.datetime.now(dt.UTC), tz=_zone(user["tz"] if user else None))
    words = await store.lexemes(conn, sorted({term.text for term in query.terms}))
    return query, words, await _filters(conn, actor, query, words)


def _window(request: Request, limits: Limits) -> int:
    return max(limits.max_matches, request.page * request.count)


async def search_messages(db: Database, actor: Actor, request: Request, limits: Limits) -> dict[str, Any]:
    """Slack's ``messages`` object for ``request``: ``total``, ``matches``, ``paging``, ``pagination``.

    ``no_query`` for an empty query, ``invalid_arguments`` for one over 1,000 characters,
    ``request_timeout`` when the statement timeout stops it. ``total`` is always exact (as
    Slack's is): past ``limits.max_matches`` a walk is followed by a count through the GIN
    index. ``sort=score`` ranks the newest ``limits.max_matches`` (or as deep as the page asked).
    """
    now_us = time.time_ns() // 1000
    window = _window(request, limits)
    async with db.transaction() as conn:
        query, words, filters = await _prepare(conn, actor, request, limits)
        total, rows = 0, list[dict[str, Any]]()
        if filters is not None:
            if filters.tsquery is not None:
                stats = await _word_stats(conn, db)
                share, workspace_messages = _estimate(query, words, stats, actor.workspace_id)
                filters.plan = _plan(share, workspace_messages, window, limits.plan)
            total, rows = await store.search(
                conn, actor.workspace_id, actor.user_id, filters,
                sort=request.sort, descending=request.descending,
                offset=(request.page - 1) * request.count, limit=request.count,
                window=window, now_us=now_us,
            )
    marks = search_query.highlight_words(query, words) if request.highlight else None
    return {"matches": [_match(row, actor, limits, marks) for row in rows], **_paging(total, request)}


async def search_files(ctx: files.FileContext, actor: Actor, request: Request, limits: Limits) -> dict[str, Any]:
    """Slack's ``files`` object: files whose name or title has the query's words, that the actor
    uploaded or may read where they are shared (``in:``, ``from:`` and dates apply; ``has:``
    and ``is:`` are about messages and match no file)."""
    now_us = time.time_ns() // 1000
    async with ctx.db.transaction() as conn:
        _, _, filters = await _prepare(conn, actor, request, limits)
        total, found = 0, list[dict[str, Any]]()
        if filters is not None and not filters.has and not filters.is_thread:
            total, rows = await store.search_files(
                conn, actor.workspace_id, actor.user_id, filters,
                sort=request.sort, descending=request.descending,
                offset=(request.page - 1) * request.count, limit=request.count,
                window=_window(request, limits), now_us=now_us,
            )
            objects = await files.render(conn, ctx, rows)
            found = [objects[row["file_id"]] for row in rows]
    return {"matches": found, **_paging(total, request)}
