"""users.list, users.info, users.lookupByEmail through slack_sdk."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.support.cells import RunningCell


def test_users_list_pages_through_every_member(cell: RunningCell) -> None:
    """users.list with a small limit returns every member exactly once across pages."""
    ws = cell.workspace()
    people = {ws.owner.id} | {cell.user(ws, f"p{i}").id for i in range(4)}
    client = WebClient(token=ws.owner.token, base_url=cell.api)
    seen: list[str] = []
    for page in client.users_list(limit=2):
        seen += [m["id"] for m in page["members"]]
    assert sorted(seen) == sorted(people)


def test_users_list_shows_only_the_callers_workspace(cell: RunningCell) -> None:
    """users.list never shows people of another workspace."""
    a, b = cell.workspace("a"), cell.workspace("b")
    cell.user(b, "bella")
    members = WebClient(token=a.owner.token, base_url=cell.api).users_list()["members"]
    assert [m["id"] for m in members] == [a.owner.id]


def test_users_info(cell: RunningCell) -> None:
    """users.info returns the person with their profile email."""
    ws = cell.workspace()
    person = cell.user(ws, "ida")
    user = WebClient(token=ws.owner.token, base_url=cell.api).users_info(user=person.id)["user"]
    assert (user["id"], user["name"], user["profile"]["email"]) == (person.id, "ida", person.email)


@pytest.mark.parametrize("user_id", ["UNOSUCHUSER", "not-an-id"])
def test_users_info_unknown_user(cell: RunningCell, user_id: str) -> None:
    """users.info for an unknown or malformed id answers user_not_found."""
    ws = cell.workspace()
    with pytest.raises(SlackApiError) as raised:
        WebClient(token=ws.owner.token, base_url=cell.api).users_info(user=user_id)
    assert raised.value.response["error"] == "user_not_found"


def test_users_info_of_another_workspace_is_user_not_found(cell: RunningCell) -> None:
    """A user id from another workspace is user_not_found, and nothing of it shows."""
    a, b = cell.workspace("a"), cell.workspace("b")
    with pytest.raises(SlackApiError) as raised:
        WebClient(token=a.owner.token, base_url=cell.api).users_info(user=b.owner.id)
    assert raised.value.response.data == {"ok": False, "error": "user_not_found"}


def test_lookup_by_email(cell: RunningCell) -> None:
    """users.lookupByEmail finds a member by email, ignoring case."""
    ws = cell.workspace()
    person = cell.user(ws, "lu")
    found = WebClient(token=ws.owner.token, base_url=cell.api).users_lookupByEmail(email=person.email.upper())
    assert found["user"]["id"] == person.id


def test_lookup_by_email_in_another_workspace_is_not_found(cell: RunningCell) -> None:
    """users.lookupByEmail does not find people of another workspace."""
    a, b = cell.workspace("a"), cell.workspace("b")
    with pytest.raises(SlackApiError) as raised:
        WebClient(token=a.owner.token, base_url=cell.api).users_lookupByEmail(email=b.owner.email)
    assert raised.value.response["error"] == "users_not_found"


@pytest.mark.anyio
async def test_users_info_through_async_client(cell: RunningCell) -> None:
    """The official AsyncWebClient works against the cell."""
    ws = cell.workspace()
    client = AsyncWebClient(token=ws.owner.token, base_url=cell.api)
    answer = await client.users_info(user=ws.owner.id)
    assert answer["user"]["id"] == ws.owner.id
