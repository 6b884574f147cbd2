"""Demo data for ``cellctl dev up``: one workspace per region, people, channels, a DM, a thread, reactions.

Seeding is a list of named steps recorded in ``.cellchat/seed.json`` once they
succeed, so a second run does not seed again, and a step whose Slack method a
cell does not offer yet (``unknown_method``) is skipped, logged, and tried again
on a later run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

PASSWORD = "cellchat-demo"
PEOPLE = ("alice", "bob", "carol")  # alice owns the workspace


class SeedError(Exception):
    """A step that must succeed did not (the deployment is unusable without it)."""


class MethodMissing(Exception):
    """The cell does not offer this Slack method yet."""


@dataclass(frozen=True, slots=True)
class Demo:
    key: str  # the region
    name: str

    @property
    def slug(self) -> str:
        return self.name.lower().replace(" ", "-")

    def email(self, person: str) -> str:
        return f"{person}@{self.slug}.example.com"


def demos(regions: list[str]) -> list[Demo]:
    return [Demo(region, f"Acme {region.upper()}") for region in regions]


CreateWorkspace = Callable[[Demo, dict[str, Any]], dict[str, Any]]
"""Creates the workspace (``{name, owner}`` body); answers ``{"workspace": {"id"...}, "owner", "token", "cell"}``."""


class Seeder:
    def __init__(self, state_file: Path, say: Callable[[str], None], http: httpx.Client) -> None:
        self.state_file = state_file
        self.api = ""  # where /api and /v1 answer for the workspace being seeded: the router, or its cell
        self.say = say
        self.http = http
        loaded: Any = json.loads(state_file.read_text()) if state_file.exists() else {}
        self.state: dict[str, Any] = loaded if isinstance(loaded, dict) else {}

    def _save(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=2))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.state_file)

    def workspaces(self) -> list[dict[str, Any]]:
        return list(self.state.get("workspaces", {}).values())

    # -- HTTP -----------------------------------------------------------------------------

    def slack(self, token: str, method: str, *, fine: tuple[str, ...] = (), **args: Any) -> dict[str, Any]:
        """Call a Slack method; errors named in ``fine`` mean "already done" (a retried step)."""
        response = self.http.post(f"{self.api}/api/{method}", json=args, headers={"Authorization": f"Bearer {token}"})
        body: dict[str, Any] = response.json()
        if not body.get("ok") and body.get("error") not in fine:
            if body.get("error") == "unknown_method":
                raise MethodMissing(method)
            raise SeedError(f"{method}: {body.get('error')}")
        return body

    def _add_user(self, owner_token: str, workspace_id: str, person: str, email: str) -> dict[str, Any]:
        response = self.http.post(
            f"{self.api}/v1/workspaces/{workspace_id}/users",
            json={"email": email, "name": person, "password": PASSWORD},
            headers={"Authorization": f"Bearer {owner_token}"},
        )
        body: dict[str, Any] = response.json()
        if not body.get("ok"):
            raise SeedError(f"adding {email}: {body.get('error')}")
        return body

    # -- steps ----------------------------------------------------------------------------

    def seed(self, demo: Demo, create: CreateWorkspace, api_for: Callable[[str], str]) -> dict[str, Any]:
        """Run the steps of ``demo`` that have not succeeded yet; returns its record.

        ``api_for(cell)`` says where the workspace's ``/api`` and ``/v1`` answer.
        """
        all_ws = self.state.setdefault("workspaces", {})
        record: dict[str, Any] | None = all_ws.get(demo.key)
        if record is None:
            made = create(demo, {"name": demo.name,
                                 "owner": {"email": demo.email("alice"), "name": "alice", "password": PASSWORD}})
            record = {
                "id": made["workspace"]["id"], "name": demo.name, "cell": made["cell"], "region": demo.key,
                "users": [{"id": made["owner"]["id"], "email": demo.email("alice"), "password": PASSWORD,
                           "token": made["token"], "name": "alice"}],
                "refs": {"general": made["workspace"].get("general")}, "done": [],
            }
            all_ws[demo.key] = record
            self._save()
            self.say(f"created workspace {demo.name} ({record['id']}) in cell {record['cell']}")
        self.api = api_for(record["cell"]).rstrip("/")
        steps: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
            ("people", lambda r: self._people(demo, r)),
            ("channel:engineering", lambda r: self._channel(r, "engineering", private=False)),
            ("channel:leadership", lambda r: self._channel(r, "leadership", private=True)),
            ("invite:engineering", lambda r: self._invite(r, "engineering", ["bob", "carol"])),
            ("invite:leadership", lambda r: self._invite(r, "leadership", ["bob"])),
            ("messages", self._messages),
            ("thread", self._thread),
            ("reactions", self._reactions),
            ("dm", self._dm),
        ]
        for name, step in steps:
            if name in record["done"]:
                continue
            try:
                step(record)
            except MethodMissing as missing:
                self.say(f"[yellow]skipped[/] {demo.name}: {name} ({missing} is not available on the cell yet)")
                continue
            except (SeedError, KeyError) as exc:
                self.say(f"[yellow]skipped[/] {demo.name}: {name} ({exc})")
                continue
            record["done"].append(name)
            self._save()
        return record

    def _token(self, record: dict[str, Any], person: str) -> str:
        return str(next(u for u in record["users"] if u["name"] == person)["token"])

    def _user_id(self, record: dict[str, Any], person: str) -> str:
        return str(next(u for u in record["users"] if u["name"] == person)["id"])

    def _people(self, demo: Demo, record: dict[str, Any]) -> None:
        owner = self._token(record, "alice")
        for person in PEOPLE[1:]:
            if any(u["name"] == person for u in record["users"]):
                continue
            made = self._add_user(owner, record["id"], person, demo.email(person))
            record["users"].append({"id": made["user"]["id"], "email": demo.email(person), "password": PASSWORD,
                                    "token": made["token"], "name": person})
            self._save()

    def _channel(self, record: dict[str, Any], name: str, *, private: bool) -> None:
        alice = self._token(record, "alice")
        made = self.slack(alice, "conversations.create", fine=("name_taken",), name=name, is_private=private)
        if made.get("ok"):
            record["refs"][name] = made["channel"]["id"]
            return
        # Created by an interrupted earlier run: find it.
        listed = self.slack(alice, "conversations.list", types="public_channel,private_channel", limit=1000)
        record["refs"][name] = next(c["id"] for c in listed["channels"] if c["name"] == name)

    def _invite(self, record: dict[str, Any], channel: str, people: list[str]) -> None:
        users = ",".join(self._user_id(record, p) for p in people)
        self.slack(self._token(record, "alice"), "conversations.invite", fine=("already_in_channel",),
                   channel=record["refs"][channel], users=users)

    def _messages(self, record: dict[str, Any]) -> None:
        alice = self._token(record, "alice")
        self.slack(alice, "chat.postMessage", channel=record["refs"]["engineering"],
                   text="Deploy checklist is pinned in the wiki :rocket:", client_msg_id=f"seed-{record['id']}-eng")
        self.slack(alice, "chat.postMessage", channel=record["refs"]["leadership"],
                   text="Private: Q3 planning notes go here.", client_msg_id=f"seed-{record['id']}-lead")

    def _thread(self, record: dict[str, Any]) -> None:
        refs = record["refs"]
        if "welcome_ts" not in refs:
            posted = self.slack(self._token(record, "alice"), "chat.postMessage", channel=refs["general"],
                                text=f"Welcome to {record['name']}! Reply in this thread to say hi.",
                                client_msg_id=f"seed-{record['id']}-welcome")
            refs["welcome_ts"] = posted["ts"]
            self._save()
        for person, text in (("bob", "Hi all, bob here."), ("carol", f"Hello from carol <@{self._user_id(record, 'alice')}>!")):
            self.slack(self._token(record, person), "chat.postMessage", channel=refs["general"], text=text,
                       thread_ts=refs["welcome_ts"], client_msg_id=f"seed-{record['id']}-reply-{person}")

    def _reactions(self, record: dict[str, Any]) -> None:
        refs = record["refs"]
        for person, emoji in (("bob", "wave"), ("carol", "tada")):
            self.slack(self._token(record, person), "reactions.add", fine=("already_reacted",), channel=refs["general"],
                       timestamp=refs["welcome_ts"], name=emoji)

    def _dm(self, record: dict[str, Any]) -> None:
        opened = self.slack(self._token(record, "alice"), "conversations.open", users=self._user_id(record, "bob"))
        record["refs"]["dm_alice_bob"] = opened["channel"]["id"]
        self.slack(self._token(record, "alice"), "chat.postMessage", channel=opened["channel"]["id"],
                   text="Hey bob, got a minute for the launch review?", client_msg_id=f"seed-{record['id']}-dm")
