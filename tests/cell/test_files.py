"""Files through the official slack_sdk: files_upload_v2, files.info/list/delete, downloads, RTM."""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.rtm_v2 import RTMClient

from tests.support.cells import RunningCell, Workspace, running_cell
from tests.support.infra import Infra


@pytest.fixture(scope="module")
def files_cell(infra: Infra) -> Iterator[RunningCell]:
    """One cell for the whole module (with the relay and gateway, for RTM); each test makes its
    own workspace, so tests do not see each other's files."""
    with running_cell(infra, role="all") as running:
        yield running


def client(cell: RunningCell, token: str) -> WebClient:
    return WebClient(token=token, base_url=cell.api)


def download(url: str, token: str | None, **headers: str) -> httpx.Response:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.get(url, headers=headers)


def png(width: int = 40, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def test_upload_v2_one_file_into_a_channel(files_cell: RunningCell) -> None:
    """files_upload_v2 shares one file in a channel: the message carries it, and its
    url_private_download answers the bytes to a member's token, as an attachment."""
    ws = files_cell.workspace()
    web = client(files_cell, ws.owner.token)
    done = web.files_upload_v2(channel=ws.general, content=b"hello, files\n", filename="hello.txt",
                               title="Greeting", initial_comment="here it is")
    file = done["file"]
    assert (file["name"], file["title"], file["size"], file["mimetype"], file["filetype"], file["user"]) == (
        "hello.txt", "Greeting", 13, "text/plain", "text", ws.owner.id)
    assert file["channels"] == [ws.general]
    history = web.conversations_history(channel=ws.general, limit=1)["messages"][0]
    assert (history["text"], [f["id"] for f in history["files"]]) == ("here it is", [file["id"]])
    answer = download(file["url_private_download"], ws.owner.token)
    assert (answer.status_code, answer.content) == (200, b"hello, files\n")
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"


def test_upload_v2_several_files_into_a_thread(files_cell: RunningCell) -> None:
    """Several files in one files_upload_v2 call land in a thread as one reply carrying them all."""
    ws = files_cell.workspace()
    web = client(files_cell, ws.owner.token)
    root = web.chat_postMessage(channel=ws.general, text="root")["ts"]
    done = web.files_upload_v2(channel=ws.general, thread_ts=root, file_uploads=[
        {"content": b"one", "filename": "one.txt", "title": "One"},
        {"content": png(), "filename": "two.png", "title": "Two"},
    ])
    assert [f["title"] for f in done["files"]] == ["One", "Two"]
    replies = web.conversations_replies(channel=ws.general, ts=root)["messages"]
    assert [f["name"] for f in replies[1]["files"]] == ["one.txt", "two.png"]
    assert replies[0]["reply_count"] == 1
    image = download(done["files"][1]["url_private"], ws.owner.token)
    assert (image.headers["content-type"], image.headers["content-disposition"].split(";")[0]) == (
        "image/png", "inline")


def test_upload_v2_several_files_into_a_channel(files_cell: RunningCell) -> None:
    """Several files shared in a channel at once: one message carrying them all, in order."""
    ws = files_cell.workspace()
    web = client(files_cell, ws.owner.token)
    done = web.files_upload_v2(channel=ws.general, initial_comment="both", file_uploads=[
        {"content": b"a", "filename": "a.txt"}, {"content": b"b", "filename": "b.txt"}])
    message = web.conversations_history(channel=ws.general, limit=1)["messages"][0]
    assert (message["text"], [f["id"] for f in message["files"]]) == ("both", [f["id"] for f in done["files"]])


def test_files_info_list_and_delete(files_cell: RunningCell) -> None:
    """files.info and files.list show a member's visible files; files.delete removes the file,
    its bytes, and leaves a tombstone in the message that shared it."""
    ws = files_cell.workspace()
    web = client(files_cell, ws.owner.token)
    shared = web.files_upload_v2(channel=ws.general, content=png(), filename="shot.png")["file"]
    private = web.files_upload_v2(content=b"just mine", filename="notes.txt")["file"]
    assert web.files_info(file=shared["id"])["file"]["id"] == shared["id"]
    assert private["channels"] == []
    listed = web.files_list()
    assert ([f["id"] for f in listed["files"]], listed["paging"]["total"]) == ([private["id"], shared["id"]], 2)
    assert [f["id"] for f in web.files_list(channel=ws.general)["files"]] == [shared["id"]]
    assert [f["id"] for f in web.files_list(types="images")["files"]] == [shared["id"]]
    assert [f["id"] for f in web.files_list(user=ws.owner.id, count=1, page=2)["files"]] == [shared["id"]]
    web.files_delete(file=shared["id"])
    with pytest.raises(SlackApiError) as gone:
        web.files_info(file=shared["id"])
    assert gone.value.response["error"] == "file_not_found"
    message = web.conversations_history(channel=ws.general, limit=1)["messages"][0]
    assert message["files"] == [{"id": shared["id"], "mode": "tombstone"}]
    assert download(shared["url_private"], ws.owner.token).status_code == 404


def test_download_answers_ranges(files_cell: RunningCell) -> None:
    """A Range request gets 206 and exactly those bytes; an unsatisfiable one 416."""
    ws = files_cell.workspace()
    data = bytes(range(256)) * 40
    file = client(files_cell, ws.owner.token).files_upload_v2(content=data, filename="blob.bin")["file"]
    part = download(file["url_private_download"], ws.owner.token, Range="bytes=100-199")
    assert (part.status_code, part.content, part.headers["content-range"]) == (
        206, data[100:200], f"bytes 100-199/{len(data)}")
    tail = download(file["url_private_download"], ws.owner.token, Range="bytes=-10")
    assert tail.content == data[-10:]
    assert download(file["url_private_download"], ws.owner.token, Range=f"bytes={len(data)}-").status_code == 416


def test_content_type_is_sniffed_not_claimed(files_cell: RunningCell) -> None:
    """HTML named like an image is served as an attachment of plain text, never as an image or HTML."""
    ws = files_cell.workspace()
    file = client(files_cell, ws.owner.token).files_upload_v2(
        content=b"<html><script>alert(1)</script></html>", filename="cat.png")["file"]
    answer = download(file["url_private"], ws.owner.token)
    assert (answer.headers["content-type"], answer.headers["content-disposition"].split(";")[0]) == (
        "text/plain; charset=utf-8", "attachment")


def test_same_bytes_are_stored_once_per_workspace(files_cell: RunningCell) -> None:
    """Two uploads of the same bytes take one object in a workspace; another workspace has its own."""
    a, b = files_cell.workspace(), files_cell.workspace()
    for ws in (a, a, b):
        client(files_cell, ws.owner.token).files_upload_v2(content=b"same bytes", filename="same.txt")
    root = files_cell.settings.storage.root
    objects = sorted(p.relative_to(root).parts[1] for p in root.glob("ws/*/sha256/*"))
    assert sorted(w for w in objects if w in (a.id, b.id)) == sorted([a.id, b.id])


def rtm_messages(cell: RunningCell, ws: Workspace, post: Any) -> dict[str, Any]:
    bot, _ = cell.bot(ws, "listener")
    client(cell, bot.token).conversations_join(channel=ws.general)
    hello = threading.Event()
    seen: queue.Queue[dict[str, Any]] = queue.Queue()
    rtm = RTMClient(token=bot.token, base_url=cell.api)
    rtm.on("hello")(lambda client, event: hello.set())
    rtm.on("message")(lambda client, event: seen.put(event))
    rtm.connect()
    try:
        assert hello.wait(10)
        post()
        return seen.get(timeout=10)
    finally:
        rtm.auto_reconnect_enabled = False
        rtm.close()


def test_rtm_client_sees_the_file_message(files_cell: RunningCell) -> None:
    """slack_sdk's RTM client receives the message that shares a file, with the file object."""
    ws = files_cell.workspace()
    web = client(files_cell, ws.owner.token)
    event = rtm_messages(files_cell, ws, lambda: web.files_upload_v2(
        channel=ws.general, content=b"live", filename="live.txt", initial_comment="look"))
    assert (event["channel"], event["text"], event["files"][0]["name"], event["files"][0]["size"]) == (
        ws.general, "look", "live.txt", 4)


def test_legacy_files_upload_still_works(files_cell: RunningCell) -> None:
    """The retired files.upload (multipart) that slack_sdk's files_upload still sends."""
    ws = files_cell.workspace()
    with pytest.warns(UserWarning):
        done = client(files_cell, ws.owner.token).files_upload(
            channels=ws.general, file=io.BytesIO(b"old school"), filename="old.txt")
    answer = download(done["file"]["url_private_download"], ws.owner.token)
    assert answer.content == b"old school"
