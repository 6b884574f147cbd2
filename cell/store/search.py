"""Message search over the stored ``messages.search_vector`` (migration ``0005_search``).

Who may see what is decided here, in the one query that finds the matches: messages of
the searcher's workspace only, in its public channels and in the conversations the
searcher is a member of at the moment of the query. Deleted messages are gone from the
table; an edited one is found by its new text (the trigger recomputes the vector), and a
message is found by its attachments' and blocks' words too (migration ``0024``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

from psycopg import errors, sql

from cell.errors import CellError
from cell.store.db import Conn
from cell.store.files import FILE_COLUMNS
from cell.store.messages import MESSAGE_COLUMNS

Row = dict[str, Any]
Sort = Literal["score", "timestamp"]


async def begin(conn: Conn) -> None:
    """Make the current transaction one read-only snapshot (total and page agree)."""
    await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


async def limit_time(conn: Conn, timeout_ms: int) -> None:
    """No later statement of this transaction runs longer than ``timeout_ms`` (lock waits
    included: ``request_timeout``); plans are made for each query's own words."""
    await conn.execute("SELECT set_config('statement_timeout', %(t)s, true),"
                       " set_config('plan_cache_mode', 'force_custom_plan', true)", {"t": str(timeout_ms)})


async def _fetch(conn: Conn, query: sql.Composed | str, params: dict[str, Any]) -> list[Row]:
    try:
        cur = await conn.execute(query, params)
        return await cur.fetchall()
    except errors.QueryCanceled as exc:
        raise CellError("request_timeout", detail="the search took too long; narrow it down") from exc


@dataclass(frozen=True, slots=True)
class WordStats:
    """How often lexemes occur in the cell's messages (ANALYZE's most common elements)."""

    frequent: dict[str, float]
    floor: float   # the frequency below which a lexeme is not listed
    messages: float  # the cell's messages (reltuples)


def scope(workspace_id: str) -> str:
    """The prefix a workspace's words are stored under (``cellchat_search_vector``, 0013)."""
    return "w" + hashlib.md5(workspace_id.encode()).hexdigest()[:6]


async def word_stats(conn: Conn) -> WordStats:
    """The planner's statistics of ``messages.search_vector``; empty before the first ANALYZE."""
    rows = await _fetch(conn, """
        SELECT s.most_common_elems::text::text[] AS elems, s.most_common_elem_freqs AS freqs,
               (SELECT greatest(c.reltuples, 0) FROM pg_class c WHERE c.oid = 'messages'::regclass) AS n
        FROM pg_stats s
        WHERE s.schemaname = current_schema() AND s.tablename = 'messages' AND s.attname = 'search_vector'
    """, {})
    if not rows or rows[0]["elems"] is None:
        return WordStats({}, 0.0, 0.0)
    elems, freqs = list(rows[0]["elems"]), list(rows[0]["freqs"])
    # freqs: one per element, then the minimum, maximum and null fraction.
    return WordStats(dict(zip(elems, freqs, strict=False)), float(freqs[len(elems)]), float(rows[0]["n"]))


async def lexemes(conn: Conn, texts: list[str]) -> dict[str, list[str]]:
    """Each text's words in order, exactly as the database stores them for a message."""
    if not texts:
        return {}
    rows = await _fetch(conn, """
        SELECT t.text, coalesce((
            SELECT array_agg(v.lexeme ORDER BY p.pos)
            FROM unnest(to_tsvector('simple'::regconfig, cellchat_search_text(t.text))) AS v,
                 unnest(v.positions) AS p(pos)), '{}') AS words
        FROM unnest(%(texts)s::text[]) AS t(text)
    """, {"texts": texts})
    return {row["text"]: list(row["words"]) for row in rows}


async def user_ids(conn: Conn, workspace_id: str, *, ids: list[str], names: list[str]) -> list[str]:
    """The people of the workspace among ``ids`` and with one of ``names`` (lower case)."""
    rows = await _fetch(conn, """
        SELECT user_id FROM users
        WHERE workspace_id = %(w)s AND (user_id = ANY(%(ids)s) OR lower(name) = ANY(%(names)s))
    """, {"w": workspace_id, "ids": ids, "names": names})
    return [row["user_id"] for row in rows]


async def channel_ids(
    conn: Conn, workspace_id: str, *, ids: list[str], names: list[str], dm_keys: list[str]
) -> list[str]:
    """Conversations of the workspace with one of ``ids``, ``names`` or DM keys (visibility is
    checked by ``search``)."""
    rows = await _fetch(conn, """
        SELECT channel_id FROM channels
        WHERE workspace_id = %(w)s
          AND (channel_id = ANY(%(ids)s) OR (name = ANY(%(names)s) AND kind <> 'im') OR dm_key = ANY(%(keys)s))
    """, {"w": workspace_id, "ids": ids, "names": names, "keys": dm_keys})
    return [row["channel_id"] for row in rows]


@dataclass(slots=True)
class Filters:
    """What the matches must satisfy besides being visible to ``user_id``."""

    tsquery: str | None = None
    channels: list[str] | None = None
    authors: list[str] | None = None
    after: int | None = None
    before: int | None = None
    has: set[str] = field(default_factory=set)
    is_thread: bool = False
    # ``index``: the GIN index finds every match, then they are ordered (few matches);
    # ``walk``: the workspace's messages newest first, each checked, until enough (many).
    plan: Literal["index", "walk"] = "index"


_VISIBLE = sql.SQL(
    "m.channel_id IN (SELECT c.channel_id FROM channels c WHERE c.workspace_id = %(w)s AND (c.kind = 'public'"
    " OR EXISTS (SELECT 1 FROM channel_members cm WHERE cm.workspace_id = c.workspace_id"
    " AND cm.channel_id = c.channel_id AND cm.user_id = %(u)s)))"
)
_HAS = {
    "link": sql.SQL("m.text ~* '(https?|ftp)://'"),
    "reaction": sql.SQL("EXISTS (SELECT 1 FROM reactions r WHERE r.workspace_id = m.workspace_id"
                        " AND r.channel_id = m.channel_id AND r.ts = m.ts)"),
    "pin": sql.SQL("EXISTS (SELECT 1 FROM pins p WHERE p.workspace_id = m.workspace_id"
                   " AND p.channel_id = m.channel_id AND p.ts = m.ts)"),
    "file": sql.SQL("cardinality(m.files) > 0"),
}
# Relevance (cover density, shorter messages first) times a recency factor that halves
# the weight of a message every two weeks, down to a floor of a tenth.
_SCORE = sql.SQL(
    "ts_rank_cd(m.search_vector, %(q)s::tsquery, 1)"
    " * (0.1 + 0.9 * power(0.5, greatest(%(now)s - m.ts, 0) / 1209600000000.0))"
)
_RECENCY = sql.SQL("power(0.5, greatest(%(now)s - m.ts, 0) / 1209600000000.0)")


def _conditions(filters: Filters, *, plan: Literal["index", "walk"] | None = None) -> list[sql.Composable]:
    where: list[sql.Composable] = [sql.SQL("m.workspace_id = %(w)s"), sql.SQL("m.subtype IS NULL"), _VISIBLE]
    if filters.tsquery is not None and (plan or filters.plan) == "index":
        # Words under the workspace's prefix (migration 0009): posting lists of its rows only.
        where.append(sql.SQL("m.search_vector @@ %(q)s::tsquery"))
    elif filters.tsquery is not None:
        # The function behind @@, which no index serves: the planner walks messages_by_time.
        where.append(sql.SQL("ts_match_vq(m.search_vector, %(q)s::tsquery)"))
    if filters.channels is not None:
        where.append(sql.SQL("m.channel_id = ANY(%(channels)s::text[])"))
    if filters.authors is not None:
        where.append(sql.SQL("m.user_id = ANY(%(authors)s::text[])"))
    if filters.after is not None:
        where.append(sql.SQL("m.ts >= %(after)s"))
    if filters.before is not None:
        where.append(sql.SQL("m.ts < %(before)s"))
    where += [_HAS[name] for name in sorted(filters.has) if name in _HAS]
    if filters.is_thread:
        where.append(sql.SQL("m.thread_ts IS NOT NULL"))
    return where


async def search(
    conn: Conn, workspace_id: str, user_id: str, filters: Filters, *,
    sort: Sort, descending: bool, offset: int, limit: int, window: int, now_us: int,
) -> tuple[int, list[Row]]:
    """``(total, page)``: matches visible to ``user_id``.

    ``sort=timestamp`` orders the matches by ts; ``sort=score`` takes the ``window`` newest
    matches and orders them by relevance times recency (``score``). ``total`` counts every
    match, always: the GIN index hands them all over anyway (``plan=index``); a walk that
    filled its window is followed by an exact count through the index. Page rows are message rows with the channel's ``kind``, ``name``,
    ``dm_key``, the author's ``username`` and ``score``.
    """
    direction = sql.SQL("DESC" if descending else "ASC")
    window_order = sql.SQL("ASC" if sort == "timestamp" and not descending else "DESC")
    score = _SCORE if filters.tsquery is not None else _RECENCY
    if sort == "score":
        order = sql.SQL("h.score {d}, h.ts {d}, h.channel_id {d}").format(d=direction)
    else:
        order = sql.SQL("h.ts {d}, h.channel_id {d}").format(d=direction)
    counted_all = filters.tsquery is not None and filters.plan == "index"
    bound = sql.SQL("") if counted_all else sql.SQL("ORDER BY m.ts {wo} LIMIT %(window)s").format(wo=window_order)
    # Totals are exact, as Slack's are. A bounded search that filled its window counts every
    # match once more, through the GIN index (a bitmap count reads no row twice and sorts
    # nothing); the subquery is an InitPlan, run only when the CASE needs it.
    counted: sql.Composable = sql.SQL("(SELECT count(*) FROM matched)")
    if not counted_all:
        counted = sql.SQL(
            "CASE WHEN (SELECT count(*) FROM matched) < %(window)s THEN (SELECT count(*) FROM matched)"
            " ELSE (SELECT count(*) FROM messages m WHERE {where}) END"
        ).format(where=sql.SQL(" AND ").join(_conditions(filters, plan="index")))
    query = sql.SQL("""
        WITH matched AS MATERIALIZED (
            SELECT m.channel_id, m.ts FROM messages m WHERE {where} {bound}
        ), hits AS MATERIALIZED (
            SELECT x.channel_id, x.ts, {score} AS score
            FROM (SELECT channel_id, ts FROM matched ORDER BY ts {window_order} LIMIT %(window)s) x
            JOIN messages m ON m.workspace_id = %(w)s AND m.channel_id = x.channel_id AND m.ts = x.ts
        ), page AS (
            SELECT h.channel_id, h.ts, h.score, row_number() OVER (ORDER BY {order}) AS n
            FROM hits h ORDER BY {order} OFFSET %(offset)s LIMIT %(limit)s
        )
        SELECT t.total, p.*
        FROM (SELECT {total} AS total) t
        LEFT JOIN (
            SELECT {columns}, page.score, page.n, c.kind, c.name, c.dm_key, u.name AS username
            FROM page
            JOIN messages m ON m.workspace_id = %(w)s AND m.channel_id = page.channel_id AND m.ts = page.ts
            JOIN channels c ON c.workspace_id = m.workspace_id AND c.channel_id = m.channel_id
            LEFT JOIN users u ON u.workspace_id = m.workspace_id AND u.user_id = m.user_id
        ) p ON true
        ORDER BY p.n
    """).format(
        score=score, where=sql.SQL(" AND ").join(_conditions(filters)), window_order=window_order,
        order=order, columns=MESSAGE_COLUMNS, bound=bound, total=counted,
    )
    params = {
        "w": workspace_id, "u": user_id, "q": filters.tsquery, "channels": filters.channels,
        "authors": filters.authors, "after": filters.after, "before": filters.before,
        "window": window, "offset": offset, "limit": limit, "now": now_us,
    }
    rows = await _fetch(conn, query, params)
    total = int(rows[0]["total"]) if rows else 0
    return total, [row for row in rows if row["ts"] is not None]


# -- files -----------------------------------------------------------------------------------

# The words of a file: its name and title (the expression of the index files_search, 0008).
_FILE_VECTOR = sql.SQL("cellchat_search_vector(f.workspace_id, NULL::text, f.name || ' ' || f.title)")
_FILE_VISIBLE = sql.SQL(
    "(f.user_id = %(u)s OR EXISTS (SELECT 1 FROM file_shares s JOIN channels c"
    " ON c.workspace_id = s.workspace_id AND c.channel_id = s.channel_id"
    " WHERE s.workspace_id = f.workspace_id AND s.file_id = f.file_id AND (c.kind = 'public' OR EXISTS ("
    " SELECT 1 FROM channel_members cm WHERE cm.workspace_id = s.workspace_id"
    " AND cm.channel_id = s.channel_id AND cm.user_id = %(u)s))))"
)


async def search_files(
    conn: Conn, workspace_id: str, user_id: str, filters: Filters, *,
    sort: Sort, descending: bool, offset: int, limit: int, window: int, now_us: int,
) -> tuple[int, list[Row]]:
    """``(total, page)`` of completed files ``user_id`` may see (uploaded, or shared where they may
    read) whose name or title has the words; ``in:`` and ``from:`` and the dates apply, at most
    ``window`` of them (the newest) ranked, all of them counted. Rows are file rows (``files.FILE_COLUMNS``)."""
    where: list[sql.Composable] = [sql.SQL("f.workspace_id = %(w)s"), sql.SQL("f.state = 'complete'"), _FILE_VISIBLE]
    if filters.tsquery is not None:
        where.append(sql.SQL("{v} @@ %(q)s::tsquery").format(v=_FILE_VECTOR))
    if filters.channels is not None:
        where.append(sql.SQL("EXISTS (SELECT 1 FROM file_shares s WHERE s.workspace_id = f.workspace_id"
                             " AND s.file_id = f.file_id AND s.channel_id = ANY(%(channels)s::text[]))"))
    if filters.authors is not None:
        where.append(sql.SQL("f.user_id = ANY(%(authors)s::text[])"))
    if filters.after is not None:
        where.append(sql.SQL("f.created_at >= to_timestamp(%(after)s / 1e6)"))
    if filters.before is not None:
        where.append(sql.SQL("f.created_at < to_timestamp(%(before)s / 1e6)"))
    age = sql.SQL("greatest(%(now)s - extract(epoch FROM f.created_at) * 1e6, 0) / 1209600000000.0")
    score = (sql.SQL("ts_rank_cd({v}, %(q)s::tsquery, 1) * (0.1 + 0.9 * power(0.5, {age}))").format(
        v=_FILE_VECTOR, age=age) if filters.tsquery is not None else sql.SQL("power(0.5, {age})").format(age=age))
    direction = sql.SQL("DESC" if descending else "ASC")
    order = (sql.SQL("h.score {d}, h.created_at {d}, h.file_id {d}") if sort == "score"
             else sql.SQL("h.created_at {d}, h.file_id {d}")).format(d=direction)
    window_order = sql.SQL("ASC" if sort == "timestamp" and not descending else "DESC")
    query = sql.SQL("""
        WITH found AS MATERIALIZED (
            SELECT f.file_id, f.created_at FROM files f WHERE {where}
        ), hits AS MATERIALIZED (
            SELECT f.file_id, f.created_at, {score} AS score
            FROM (SELECT file_id, created_at FROM found ORDER BY created_at {window_order} LIMIT %(window)s) x
            JOIN files f ON f.workspace_id = %(w)s AND f.file_id = x.file_id
        ), page AS (
            SELECT h.file_id, h.score, row_number() OVER (ORDER BY {order}) AS n
            FROM hits h ORDER BY {order} OFFSET %(offset)s LIMIT %(limit)s
        )
        SELECT t.total, p.* FROM (SELECT count(*) AS total FROM found) t
        LEFT JOIN (
            SELECT {columns}, page.score, page.n FROM page
            JOIN files f ON f.workspace_id = %(w)s AND f.file_id = page.file_id
        ) p ON true
        ORDER BY p.n
    """).format(score=score, where=sql.SQL(" AND ").join(where), window_order=window_order, order=order,
                columns=FILE_COLUMNS)
    rows = await _fetch(conn, query, {
        "w": workspace_id, "u": user_id, "q": filters.tsquery,
        "channels": filters.channels, "authors": filters.authors, "after": filters.after,
        "before": filters.before, "window": window, "offset": offset, "limit": limit, "now": now_us,
    })
    total = int(rows[0]["total"]) if rows else 0
    return total, [row for row in rows if row["file_id"] is not None]
