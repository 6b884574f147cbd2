"""Files stay inside their workspace and their conversations: every way in from outside is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from cell.actions.files import signing_key
from cell.domain import files as domain
from tests.support.cells import RunningCell, running_cell
from tests.support.infra import Infra


@pytest.fixture(scope="module")
def iso_cell(infra: Infra) -> Iterator[RunningCell]:
    with running_cell(infra) as running:
        yield running


def web(cell: RunningCell, token: str) -> WebClient:
    return WebClient(token=token, base_url=cell.api)


def error_of(call: Any) -> str:
    with pytest.raises(SlackApiError) as refused:
        call()
    return str(refused.value.response["error"])


def get(url: str, token: str | None = None) -> httpx.Response:
    return httpx.get(url, headers={"Authorization": f"Bearer {token}"} if token else {})


def test_another_workspaces_file_is_not_found(iso_cell: RunningCell) -> None:
    """A file id of workspace B is file_not_found to A's files.info, files.delete and
    completeUploadExternal, and B's download URL answers 404 to A's token."""
    a, b = iso_cell.workspace(), iso_cell.workspace()
    theirs = web(iso_cell, b.owner.token).files_upload_v2(channel=b.general, content=b"b only", filename="b.txt")
    pending = web(iso_cell, b.owner.token).files_getUploadURLExternal(filename="p.txt", length=3)["file_id"]
    mine = web(iso_cell, a.owner.token)
    file_id = theirs["file"]["id"]
    assert [error_of(lambda: mine.files_info(file=file_id)), error_of(lambda: mine.files_delete(file=file_id)),
            error_of(lambda: mine.files_completeUploadExternal(files=[{"id": pending}]))] == ["file_not_found"] * 3
    assert get(theirs["file"]["url_private_download"], a.owner.token).status_code == 404
    assert get(theirs["file"]["url_private_download"]).status_code == 401


def test_a_non_member_cannot_download_from_a_private_channel(iso_cell: RunningCell) -> None:
    """A file shared in a private channel is not found for a colleague outside it, found for a member."""
    ws = iso_cell.workspace()
    outsider, member = iso_cell.user(ws, "outsider"), iso_cell.user(ws, "member")
    owner = web(iso_cell, ws.owner.token)
    private = owner.conversations_create(name="private-files", is_private=True)["channel"]["id"]
    owner.conversations_invite(channel=private, users=member.id)
    file = owner.files_upload_v2(channel=private, content=b"secret", filename="s.txt")["file"]
    assert error_of(lambda: web(iso_cell, outsider.token).files_info(file=file["id"])) == "file_not_found"
    assert get(file["url_private"], outsider.token).status_code == 404
    assert web(iso_cell, outsider.token).files_list()["files"] == []
    assert get(file["url_private"], member.token).content == b"secret"


def test_a_private_upload_is_its_uploaders_only(iso_cell: RunningCell) -> None:
    """Completed without a channel, a file is visible to its uploader alone."""
    ws = iso_cell.workspace()
    colleague = iso_cell.user(ws, "colleague")
    file = web(iso_cell, ws.owner.token).files_upload_v2(content=b"mine", filename="m.txt")["file"]
    assert get(file["url_private"], colleague.token).status_code == 404
    assert get(file["url_private"], ws.owner.token).content == b"mine"


def test_an_upload_url_is_single_use(iso_cell: RunningCell) -> None:
    """A second POST to a used upload URL is refused (409) and changes nothing."""
    ws = iso_cell.workspace()
    upload = web(iso_cell, ws.owner.token).files_getUploadURLExternal(filename="once.txt", length=4)
    assert httpx.post(upload["upload_url"], content=b"once").status_code == 200
    again = httpx.post(upload["upload_url"], content=b"twce")
    assert (again.status_code, again.json()["error"]) == (409, "upload_url_used")
    web(iso_cell, ws.owner.token).files_completeUploadExternal(files=[{"id": upload["file_id"]}])
    info = web(iso_cell, ws.owner.token).files_info(file=upload["file_id"])["file"]
    assert get(info["url_private"], ws.owner.token).content == b"once"


def test_an_expired_or_forged_upload_url_is_refused(iso_cell: RunningCell) -> None:
    """An upload URL past its expiry, or with a signature for another file, is refused with 403."""
    ws = iso_cell.workspace()
    client = web(iso_cell, ws.owner.token)
    first = client.files_getUploadURLExternal(filename="a.txt", length=1)
    second = client.files_getUploadURLExternal(filename="b.txt", length=1)
    key = signing_key(iso_cell.settings)
    past = int(time.time()) - 1
    expired = (f"{iso_cell.url}/upload/v1/{ws.id}-{first['file_id']}?exp={past}"
               f"&sig={domain.sign(key, 'upload', ws.id, first['file_id'], past)}")
    forged = second["upload_url"].replace(second["file_id"], first["file_id"])
    answers = [httpx.post(url, content=b"x") for url in (expired, forged)]
    assert [(r.status_code, r.json()["error"]) for r in answers] == [(403, "invalid_upload_url")] * 2


def test_a_deleted_file_is_gone_for_everyone(iso_cell: RunningCell) -> None:
    """After files.delete, info, download and a signed thumbnail-style URL all refuse."""
    ws = iso_cell.workspace()
    client = web(iso_cell, ws.owner.token)
    file = client.files_upload_v2(channel=ws.general, content=b"bye", filename="bye.txt")["file"]
    client.files_delete(file=file["id"])
    assert error_of(lambda: client.files_info(file=file["id"])) == "file_not_found"
    assert get(file["url_private_download"], ws.owner.token).status_code == 404
    assert error_of(lambda: client.files_delete(file=file["id"])) == "file_not_found"


def test_only_the_uploader_or_an_admin_deletes(iso_cell: RunningCell) -> None:
    """A member who can see a file may not delete it (cant_delete_file); an admin may."""
    ws = iso_cell.workspace()
    colleague = iso_cell.user(ws, "colleague")
    file = web(iso_cell, colleague.token).files_upload_v2(channel=ws.general, content=b"c", filename="c.txt")["file"]
    other = iso_cell.user(ws, "other")
    assert error_of(lambda: web(iso_cell, other.token).files_delete(file=file["id"])) == "cant_delete_file"
    web(iso_cell, ws.owner.token).files_delete(file=file["id"])


@pytest.mark.parametrize("digits", ["²", "١٢", " 12", "12\u00a0"])
def test_signed_links_with_odd_digits_are_refused_not_errors(iso_cell: RunningCell, digits: str) -> None:
    """An expiry, size or timestamp that ``str.isdigit`` accepts but is not ASCII digits ("²" made
    ``int`` raise, a 500 on links a stranger can call) is refused like any bad link."""
    ws = iso_cell.workspace()
    client = web(iso_cell, ws.owner.token)
    file_id = client.files_getUploadURLExternal(filename="a.txt", length=1)["file_id"]
    key = signing_key(iso_cell.settings)
    upload = httpx.post(f"{iso_cell.url}/upload/v1/{ws.id}-{file_id}",
                        params={"exp": digits, "sig": domain.sign(key, "upload", ws.id, file_id, 2**40)},
                        content=b"x")
    archive = httpx.get(f"{iso_cell.url}/v1/workspaces/{ws.id}/exports/E1/archive",
                        params={"exp": digits, "sig": "0" * 40})
    thumb = httpx.get(f"{iso_cell.url}/files-tmb/{ws.id}-{file_id}/{digits}",
                      headers={"Authorization": f"Bearer {ws.owner.token}"})
    assert [(r.status_code, r.json()["error"]) for r in (upload, archive, thumb)] == [
        (403, "invalid_upload_url"), (403, "invalid_signature"), (404, "file_not_found")]
