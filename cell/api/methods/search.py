"""``search.messages`` and ``search.all`` (files: none yet, until the cell stores files)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from cell.actions import search
from cell.api.registry import Args, Context, method


class SearchArgs(Args):
    query: str = ""
    sort: Literal["score", "timestamp"] = "score"
    sort_dir: Literal["asc", "desc"] = "desc"
    highlight: bool = False
    count: int = Field(default=20, ge=1, le=100)
    page: int = Field(default=1, ge=1, le=100)


def _request(args: SearchArgs) -> search.Request:
    return search.Request(query=args.query, sort=args.sort, descending=args.sort_dir == "desc",
                          highlight=args.highlight, count=args.count, page=args.page)


def _limits(ctx: Context) -> search.Limits:
    settings = ctx.services.settings.search
    return search.Limits(timeout_ms=settings.statement_timeout_ms, max_matches=settings.max_matches,
                         permalink=settings.permalink)


@method("search.messages", SearchArgs, tier="tier2")
async def search_messages(ctx: Context, args: SearchArgs) -> dict[str, Any]:
    messages = await search.search_messages(ctx.services.db, ctx.actor, _request(args), _limits(ctx))
    return {"query": args.query, "messages": messages}


@method("search.all", SearchArgs, tier="tier2")
async def search_all(ctx: Context, args: SearchArgs) -> dict[str, Any]:
    request = _request(args)
    messages = await search.search_messages(ctx.services.db, ctx.actor, request, _limits(ctx))
    return {"query": args.query, "messages": messages, "posts": {"total": 0, "matches": []}}
