"""``search.messages``, ``search.files`` and ``search.all`` (both)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from cell.actions import files, search
from cell.api.methods.files import file_context
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
                         permalink=settings.permalink, plan=settings.plan)


async def _messages(ctx: Context, request: search.Request) -> dict[str, Any]:
    messages = await search.search_messages(ctx.services.db, ctx.actor, request, _limits(ctx))
    await files.hydrate(file_context(ctx), ctx.actor.workspace_id, messages["matches"])
    return messages


@method("search.messages", SearchArgs, tier="tier2")
async def search_messages(ctx: Context, args: SearchArgs) -> dict[str, Any]:
    return {"query": args.query, "messages": await _messages(ctx, _request(args))}


@method("search.files", SearchArgs, tier="tier2")
async def search_files(ctx: Context, args: SearchArgs) -> dict[str, Any]:
    found = await search.search_files(file_context(ctx), ctx.actor, _request(args), _limits(ctx))
    return {"query": args.query, "files": found}


@method("search.all", SearchArgs, tier="tier2")
async def search_all(ctx: Context, args: SearchArgs) -> dict[str, Any]:
    request = _request(args)
    messages = await _messages(ctx, request)
    found = await search.search_files(file_context(ctx), ctx.actor, request, _limits(ctx))
    # Slack's posts (the retired Posts feature) do not exist here: the block is always empty.
    return {"query": args.query, "messages": messages, "files": found, "posts": search.no_posts(request)}
