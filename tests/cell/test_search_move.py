"""Search moves with its workspace: the same queries answer the same matches before and after a live
move, and the target keeps the index right from the switch on. Real processes: a control plane and
cells on two PostgreSQL servers (tests/support/moves.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from slack_sdk import WebClient

from cell.embedded import EmbeddedRedis
from tests.support.cells import Person, Workspace
from tests.support.infra import Infra
from tests.support.moves import Server, Stack, stack

QUERIES = ["deploy", "err-4012", '"release notes"', "東京", "in:#secret", "depl*", "-deploy notes",
           "is:thread", "has:pin", "has:reaction", "from:@bob"]


@dataclass
class Moved:
    cells: Stack
    workspace: str
    tokens: dict[str, str]  # person -> token
    before: dict[str, Any]
    after: dict[str, Any]
    migration: dict[str, Any]


def _answers(api: str, tokens: dict[str, str]) -> dict[str, Any]:
    """Every query, for every person, both sorts: what a client sees (scores aside: they age)."""
    seen: dict[str, Any] = {}
    for who, token in tokens.items():
        client = WebClient(token=token, base_url=api)
        for query in QUERIES:
            for sort in ("timestamp", "score"):
                found = client.search_messages(query=query, sort=sort, highlight=True, count=50)["messages"]
                seen[f"{who} {sort} {query}"] = (found["total"], found["paging"], [
                    {k: v for k, v in m.items() if k != "score"} for m in found["matches"]])
    return seen


@pytest.fixture(scope="module")
def moved(infra: Infra, move_servers: list[Server], move_caches: list[EmbeddedRedis]) -> Iterator[Moved]:
    with stack(infra, [("us-1", "us", move_servers[0], move_caches[0]),
                       ("us-2", "us", move_servers[1], move_caches[1])], capacity={"us-1": 1000}) as cells:
        cp = cells.control_plane
        made = cp.create_workspace("us")
        workspace, owner_token = made["workspace"]["id"], made["token"]
        source = cells.cells["us-1"]
        api = f"{source.url}/api/"
        owner = WebClient(token=owner_token, base_url=api)
        general = made["general"]
        bob = source.running.user(Workspace(workspace, general, Person(made["owner"]["id"], "", owner_token)), "bob")
        secret = owner.conversations_create(name="secret", is_private=True)["channel"]["id"]
        dm = owner.conversations_open(users=bob.id)["channel"]["id"]
        deploy = owner.chat_postMessage(channel=general, text="Deploy failed with ERR-4012")["ts"]
        owner.chat_postMessage(channel=general, text="release notes are out", thread_ts=deploy)
        owner.chat_postMessage(channel=secret, text="secret deployment of 東京 notes")
        edited = owner.chat_postMessage(channel=general, text="draft text")["ts"]
        owner.chat_update(channel=general, ts=edited, text="release notes, final")
        gone = owner.chat_postMessage(channel=general, text="deploy this never")["ts"]
        owner.chat_delete(channel=general, ts=gone)
        owner.pins_add(channel=general, timestamp=deploy)
        owner.reactions_add(channel=general, timestamp=edited, name="tada")
        WebClient(token=bob.token, base_url=api).chat_postMessage(channel=dm, text="deployed notes to bob")
        for i in range(30):
            owner.chat_postMessage(channel=general, text=f"deploy step {i} notes")
        tokens = {"owner": owner_token, "bob": bob.token}
        before = _answers(api, tokens)
        migration = cp.wait_for(cp.move(workspace, "us-2")["id"])
        after = _answers(f"{cells.cells['us-2'].url}/api/", tokens)
        yield Moved(cells, workspace, tokens, before, after, migration)


def test_results_are_identical_after_the_move(moved: Moved) -> None:
    """Every query answers the same totals, pages and matches (text, highlight, channel, permalink)
    on the target as it did on the source."""
    totals = {key: answer[0] for key, answer in moved.before.items()}
    assert ("done", 0, 1) == (moved.migration["status"], totals["bob timestamp in:#secret"],
                              totals["owner timestamp in:#secret"])
    assert sum(totals.values()) > 200  # the comparison below is about real matches
    assert moved.before == moved.after


def test_target_index_is_right_and_fresh(moved: Moved) -> None:
    """On the target every row's search column is what the target itself computes from the text, and
    a message posted there is found at once; edits are re-indexed."""
    target = moved.cells.cells["us-2"]
    wrong = target.query(
        "SELECT count(*) AS n FROM messages WHERE workspace_id = %(w)s"
        " AND search_vector IS DISTINCT FROM cellchat_search_vector(workspace_id, subtype, text)",
        {"w": moved.workspace})
    client = WebClient(token=moved.tokens["owner"], base_url=f"{target.url}/api/")
    general = client.conversations_list()["channels"][0]["id"]
    ts = client.chat_postMessage(channel=general, text="arrived after the move: platypus")["ts"]
    found = [m["ts"] for m in client.search_messages(query="platypus")["messages"]["matches"]]
    client.chat_update(channel=general, ts=ts, text="arrived after the move: echidna")
    assert (0, [ts], [ts], 0) == (
        wrong[0]["n"], found, [m["ts"] for m in client.search_messages(query="echidna")["messages"]["matches"]],
        client.search_messages(query="platypus")["messages"]["total"])
