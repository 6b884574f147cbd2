"""``/v1/control/workspaces/<W>/import/...``: the checked batches of an import from a Slack export
(admin token; the control plane passes ``cellctl workspaces import``'s batches on).

    POST .../import                  create the (empty) workspace; nothing when it exists
    POST .../import/users            {"users": [...]}
    POST .../import/conversations    {"conversations": [...]}
    PUT  .../import/objects/sha256/<hex>   a file's bytes (checked against the name; sealed at rest
                                     with the workspace's key like every upload)
    POST .../import/files            {"files": [...]}   after their bytes
    POST .../import/messages         {"messages": [...]}
    POST .../import/finish           {"owner": source user id}: thread counts, shares; the owner's token

Each answers ``received`` and ``unmapped`` (what it could not take, and why).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cell.actions import files as files_actions
from cell.actions import importing
from cell.api import rest
from cell.api.responses import ok
from cell.api.rest import Body
from cell.errors import CellError

SourceId = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
MAX_ITEMS = 5000


class Created(Body):
    name: str = Field(min_length=1, max_length=100)
    region_pin: str | None = Field(default=None, min_length=1, max_length=20)


class Person(Body):
    id: str = SourceId
    name: str = Field(min_length=1, max_length=200)
    real_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    is_admin: bool = False
    is_owner: bool = False
    is_bot: bool = False
    bot_id: str | None = Field(default=None, min_length=1, max_length=40)
    deleted: bool = False
    tz: str | None = Field(default=None, max_length=64)


class People(Body):
    users: list[Person] = Field(max_length=MAX_ITEMS)


class Topic(Body):
    value: str = Field(default="", max_length=1000)
    creator: str | None = Field(default=None, max_length=40)
    last_set: int = Field(default=0, ge=0)


class Conversation(Body):
    id: str = SourceId
    kind: Literal["public", "private", "im", "mpim"]
    name: str = Field(min_length=1, max_length=200)
    created: int = Field(ge=0)
    creator: str | None = Field(default=None, max_length=40)
    is_archived: bool = False
    topic: Topic = Topic()
    purpose: Topic = Topic()
    members: list[str] = Field(default_factory=list, max_length=MAX_ITEMS)


class Conversations(Body):
    conversations: list[Conversation] = Field(max_length=MAX_ITEMS)


class File(Body):
    id: str = SourceId
    user: str = SourceId
    name: str = Field(min_length=1, max_length=255)
    title: str | None = Field(default=None, max_length=255)
    mimetype: str | None = Field(default=None, max_length=200)
    filetype: str | None = Field(default=None, max_length=40)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created: int = Field(ge=0)


class Files(Body):
    files: list[File] = Field(max_length=MAX_ITEMS)


class Edited(Body):
    user: str = SourceId
    ts: str = Field(max_length=30)


class Reaction(Body):
    name: str = Field(min_length=1, max_length=120)
    users: list[str] = Field(max_length=1000)


class Message(Body):
    conversation: str = SourceId
    kind: Literal["public", "private", "im", "mpim"]
    ts: str = Field(max_length=30)
    user: str | None = Field(default=None, max_length=40)
    bot_id: str | None = Field(default=None, max_length=40)
    subtype: str | None = Field(default=None, max_length=60)
    text: str = Field(default="", max_length=40_000)
    blocks: list[Any] | None = None
    attachments: list[Any] | None = None
    thread_ts: str | None = Field(default=None, max_length=30)
    client_msg_id: str | None = Field(default=None, max_length=100)
    edited: Edited | None = None
    reactions: list[Reaction] = Field(default_factory=list, max_length=100)
    files: list[str] = Field(default_factory=list, max_length=20)
    pinned_by: str | None = Field(default=None, max_length=40)
    pinned_at: int | None = Field(default=None, ge=0)


class Messages(Body):
    messages: list[Message] = Field(max_length=MAX_ITEMS)


class Finish(Body):
    owner: str | None = Field(default=None, max_length=40)


def _workspace(request: Request) -> str:
    rest.require_admin(request)
    return str(request.path_params["workspace_id"])


async def create(request: Request) -> Response:
    """
    summary: Create the empty workspace an import fills (admin token); a re-run finds it.
    responses:
      200: {description: "whether it was created now"}
    """
    workspace_id = _workspace(request)
    body: Created = await rest.json_body(request, Created)
    services = rest.services(request)
    return ok(await importing.create(services.db, services.settings, workspace_id, name=body.name,
                                     region_pin=body.region_pin))


async def users(request: Request) -> Response:
    """
    summary: Import people (admin token).
    responses:
      200: {description: "received and unmapped"}
    """
    workspace_id = _workspace(request)
    body: People = await rest.json_body(request, People)
    return ok(await importing.users(rest.services(request).db, workspace_id, [p.model_dump() for p in body.users]))


async def conversations(request: Request) -> Response:
    """
    summary: Import conversations and their members (admin token).
    responses:
      200: {description: "received and unmapped"}
    """
    workspace_id = _workspace(request)
    body: Conversations = await rest.json_body(request, Conversations)
    return ok(await importing.conversations(rest.services(request).db, workspace_id,
                                            [c.model_dump() for c in body.conversations]))


async def files(request: Request) -> Response:
    """
    summary: Import file records whose bytes are stored (admin token).
    responses:
      200: {description: "received and unmapped"}
    """
    workspace_id = _workspace(request)
    body: Files = await rest.json_body(request, Files)
    services = rest.services(request)
    return ok(await importing.files(services.db, services.storage, workspace_id,
                                    [f.model_dump() for f in body.files]))


async def messages(request: Request) -> Response:
    """
    summary: Import messages with their reactions and pins (admin token).
    responses:
      200: {description: "received and unmapped"}
    """
    workspace_id = _workspace(request)
    body: Messages = await rest.json_body(request, Messages)
    return ok(await importing.messages(rest.services(request).db, workspace_id,
                                       [m.model_dump() for m in body.messages]))


async def put_object(request: Request) -> Response:
    """
    summary: Store one imported file's bytes (admin token), refused unless they hash to the sha256 in the path.
    responses:
      200: {description: "stored"}
    """
    workspace_id = _workspace(request)
    sha256 = request.path_params["sha256"]
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise CellError("invalid_arguments", detail="the object is named by its hex sha256")

    async def body() -> AsyncIterator[bytes]:
        async for chunk in request.stream():
            if chunk:
                yield chunk

    # Through the cell's storage (not ``.raw`` as moves do): the bytes arrive in the clear and are
    # sealed with the workspace's data key here.
    services = rest.services(request)
    size = await files_actions.receive_object(services.storage, workspace_id, f"sha256/{sha256}", sha256, body())
    return ok({"sha256": sha256, "size": size})


async def finish(request: Request) -> Response:
    """
    summary: Finish an import (admin token) - thread counts, file shares, last ts; the owner's token.
    responses:
      200: {description: "counts, owner and token"}
    """
    workspace_id = _workspace(request)
    body: Finish = await rest.json_body(request, Finish)
    return ok(await importing.finish(rest.services(request).db, workspace_id, body.owner))


_BASE = "/v1/control/workspaces/{workspace_id}/import"
routes: list[BaseRoute] = [
    Route(_BASE, create, methods=["POST"]),
    Route(f"{_BASE}/users", users, methods=["POST"]),
    Route(f"{_BASE}/conversations", conversations, methods=["POST"]),
    Route(f"{_BASE}/files", files, methods=["POST"]),
    Route(f"{_BASE}/objects/sha256/{{sha256}}", put_object, methods=["PUT"]),
    Route(f"{_BASE}/messages", messages, methods=["POST"]),
    Route(f"{_BASE}/finish", finish, methods=["POST"]),
]
