"""The Slack Web API method table: name -> argument model, handler, rate tier."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from cell.actions.auth import Actor
from cell.bootstrap import Services

TIERS = ("tier1", "tier2", "tier3", "tier4", "post")


class Args(BaseModel):
    """Base of every method's arguments: unknown keys (``token``, ``pretty``...) are ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


@dataclass(frozen=True, slots=True)
class Context:
    services: Services
    actor: Actor
    base_url: str = ""  # how the caller reached us (the router's address behind it): for URLs we hand out


Handler = Callable[[Context, Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class MethodSpec:
    name: str
    args: type[Args]
    handler: Handler
    tier: str
    writes: bool
    multipart: bool = False  # a multipart body is parsed as a stream (files spooled to disk), not read whole


METHODS: dict[str, MethodSpec] = {}

A = TypeVar("A", bound=Args)


def method(
    name: str, args: type[A], *, tier: str = "tier3", writes: bool = False, multipart: bool = False
) -> Callable[[Callable[[Context, A], Awaitable[dict[str, Any]]]], Callable[[Context, A], Awaitable[dict[str, Any]]]]:
    """Register a handler. ``writes`` marks methods refused while a workspace is frozen;
    ``multipart`` lets a method take multipart bodies larger than ``api.max_body_bytes``."""
    assert tier in TIERS, tier

    def register(fn: Callable[[Context, A], Awaitable[dict[str, Any]]]) -> Callable[[Context, A], Awaitable[dict[str, Any]]]:
        if name in METHODS:
            raise RuntimeError(f"method registered twice: {name}")
        METHODS[name] = MethodSpec(name, args, fn, tier, writes, multipart)
        return fn

    return register

