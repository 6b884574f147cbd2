"""A shared, searchable world for the search tests (one cell per module, built once)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from slack_sdk import WebClient

from tests.support.cells import Person, RunningCell, Workspace, running_cell
from tests.support.infra import Infra


@dataclass
class World:
    """Workspace ``ws``: the owner, ``alice``, ``bob`` and ``carol``; #general (public), #ops
    (public, bob is not in it), #secret (private: owner and alice), a DM alice<->bob, a group
    DM owner/alice/bob. Workspace ``other`` has one message with the same words."""

    cell: RunningCell
    ws: Workspace
    alice: Person
    bob: Person
    carol: Person
    other: Workspace
    channels: dict[str, str] = field(default_factory=dict)
    ts: dict[str, str] = field(default_factory=dict)

    def client(self, person: Person) -> WebClient:
        return WebClient(token=person.token, base_url=self.cell.api)

    def post(self, person: Person, channel: str, text: str, key: str | None = None, **extra: Any) -> str:
        ts: str = self.client(person).chat_postMessage(channel=self.channels.get(channel, channel),
                                                       text=text, **extra)["ts"]
        if key:
            self.ts[key] = ts
        return ts


def build(cell: RunningCell) -> World:
    ws, other = cell.workspace("acme"), cell.workspace("globex")
    world = World(cell, ws, cell.user(ws, "alice"), cell.user(ws, "bob"), cell.user(ws, "carol"), other)
    owner = world.client(ws.owner)
    world.channels["general"] = ws.general
    world.channels["ops"] = owner.conversations_create(name="ops")["channel"]["id"]
    owner.conversations_invite(channel=world.channels["ops"], users=f"{world.alice.id},{world.carol.id}")
    world.channels["secret"] = owner.conversations_create(name="secret", is_private=True)["channel"]["id"]
    owner.conversations_invite(channel=world.channels["secret"], users=world.alice.id)
    world.channels["dm"] = world.client(world.alice).conversations_open(users=world.bob.id)["channel"]["id"]
    world.channels["group"] = owner.conversations_open(users=f"{world.alice.id},{world.bob.id}")["channel"]["id"]
    world.channels["other"] = other.general
    return world


@contextmanager
def shared_world(infra: Infra, **settings: Any) -> Iterator[World]:
    with running_cell(infra, rate_limits={"enabled": False}, **settings) as cell:
        yield build(cell)


def backdated(world: World, person: Person, channel: str, text: str, when: dt.datetime) -> str:
    """A message written as if posted at ``when`` (history from before this test ran)."""
    micros = int(when.timestamp() * 1_000_000)
    with psycopg.connect(world.cell.dsn) as conn:
        conn.execute("INSERT INTO messages (workspace_id, channel_id, ts, user_id, text) VALUES (%s, %s, %s, %s, %s)",
                     (world.ws.id, world.channels.get(channel, channel), micros, person.id, text))
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def texts(answer: Any) -> list[str]:
    return [m["text"] for m in answer["messages"]["matches"]]
