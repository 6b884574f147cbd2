"""Bad input answers its precise error in the surface's own envelope, through the router, and changes nothing."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from tests.hardening.conftest import Edge, Made
from tests.support.cells import PASSWORD
from tests.support.control_plane import SRE


def _refused(edge: Edge, method: str, token: str, **kwargs: Any) -> tuple[str, bool]:
    """The error of a refused call and whether the database is exactly as before it."""
    before = edge.fingerprint()
    answer = edge.slack(method, token, **kwargs)
    assert 200 == answer.status_code, answer.text
    body = answer.json()
    assert body["ok"] is False, body
    return body["error"], before == edge.fingerprint()


@pytest.fixture(scope="module")
def made(edge: Edge) -> Made:
    return edge.workspace()


@pytest.mark.parametrize(("method", "args"), [
    ("chat.postMessage", {"text": "a\x00b"}),
    ("chat.postMessage", {"text": "hi", "client_msg_id": "id\x00"}),
    ("chat.postMessage", {"text": "hi", "blocks": '[{"type": "section", "text": "\\u0000"}]'}),
    ("conversations.setTopic", {"topic": "\x00"}),
    ("conversations.setPurpose", {"purpose": "x\x00"}),
    ("conversations.create", {"name": "bad\x00name"}),
    ("conversations.history", {"cursor": "\x00"}),
])
def test_nul_bytes_are_refused(edge: Edge, made: Made, method: str, args: dict[str, str]) -> None:
    """A NUL in any field (form body) answers invalid_arguments and stores nothing."""
    assert ("invalid_arguments", True) == _refused(edge, method, made.token, data={"channel": made.general, **args})


def test_nul_bytes_in_json_bodies_are_refused(edge: Edge, made: Made) -> None:
    """The same in a JSON body, however deep the NUL sits."""
    body = {"channel": made.general, "text": "hi", "attachments": [{"fields": [{"value": "\x00"}]}]}
    assert ("invalid_arguments", True) == _refused(edge, "chat.postMessage", made.token, json=body)


def test_nul_in_sign_in_is_refused(edge: Edge, made: Made) -> None:
    """/v1/auth/signin with a NUL in the email answers invalid_arguments (not a database error)."""
    before = edge.fingerprint()
    answer = edge.http.post(f"{edge.router.url}/v1/auth/signin",
                            json={"workspace_id": made.id, "email": made.email + "\x00", "password": PASSWORD})
    assert ("invalid_arguments", True) == (answer.json()["error"], before == edge.fingerprint())


@pytest.mark.parametrize("digits", ["²", "\u0661\u0662", "\uff11\uff12"])
def test_cursors_with_non_ascii_digits_are_invalid(edge: Edge, made: Made, digits: str) -> None:
    """A cursor whose position is made of non-ASCII digits answers invalid_cursor."""
    cursor = base64.urlsafe_b64encode(f"history:{digits}".encode()).decode().rstrip("=")
    assert ("invalid_cursor", True) == _refused(edge, "conversations.history", made.token,
                                                data={"channel": made.general, "cursor": cursor})


def test_timestamps_with_non_ascii_digits_are_invalid(edge: Edge, made: Made) -> None:
    """A message's ts written in Arabic-Indic digits is not its ts: chat.delete finds no message."""
    ts = edge.slack("chat.postMessage", made.token, data={"channel": made.general, "text": "keep"}).json()["ts"]
    arabic = ts.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert ("message_not_found", True) == _refused(edge, "chat.delete", made.token,
                                                   data={"channel": made.general, "ts": arabic})


def test_blocks_nested_thousands_deep_are_refused(edge: Edge, made: Made) -> None:
    """blocks nested 5,000 deep in a form body answer invalid_arguments (no RecursionError)."""
    deep = "[" * 5000 + "]" * 5000
    assert ("invalid_arguments", True) == _refused(edge, "chat.postMessage", made.token,
                                                   data={"channel": made.general, "text": "x", "blocks": deep})


def test_more_than_50_blocks_are_refused(edge: Edge, made: Made) -> None:
    """Slack's cap: 51 blocks answer invalid_blocks."""
    blocks = json.dumps([{"type": "divider"}] * 51)
    assert ("invalid_blocks", True) == _refused(edge, "chat.postMessage", made.token,
                                                data={"channel": made.general, "blocks": blocks})


def test_text_over_40000_characters_is_refused(edge: Edge, made: Made) -> None:
    """Slack's cap: 40,001 characters answer msg_too_long."""
    assert ("msg_too_long", True) == _refused(edge, "chat.postMessage", made.token,
                                              data={"channel": made.general, "text": "x" * 40_001})


def test_multipart_without_boundary_is_invalid_form_data(edge: Edge, made: Made) -> None:
    """multipart/form-data without a boundary answers invalid_form_data in JSON."""
    assert ("invalid_form_data", True) == _refused(
        edge, "chat.postMessage", made.token, content=b"--x\r\n\r\n",
        headers={"Content-Type": "multipart/form-data"})


def test_file_upload_multipart_without_boundary_is_invalid_form_data(edge: Edge, made: Made) -> None:
    """files.upload (streamed multipart) without a boundary answers invalid_form_data too."""
    assert ("invalid_form_data", True) == _refused(
        edge, "files.upload", made.token, content=b"--x\r\n\r\n", headers={"Content-Type": "multipart/form-data"})


def test_multipart_with_5000_fields_is_invalid_form_data(edge: Edge, made: Made) -> None:
    """A multipart body of 5,000 fields answers invalid_form_data in JSON."""
    parts = b"".join(b'--B\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i for i in range(5000))
    assert ("invalid_form_data", True) == _refused(
        edge, "chat.postMessage", made.token, content=parts + b"--B--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=B"})


def test_long_poll_timeout_nan_is_invalid(edge: Edge, made: Made) -> None:
    """The long-poll fallback answers timeout=nan with invalid_arguments."""
    answer = httpx.post(f"{edge.cell.url}/rtm/poll", data={"timeout": "nan"},
                        headers={"Authorization": f"Bearer {made.token}"})
    assert (200, "invalid_arguments") == (answer.status_code, answer.json()["error"])


def test_websocket_resume_with_odd_digits_gets_hello_and_resync(edge: Edge, made: Made) -> None:
    """A resume position of non-ASCII digits gets hello and resync_required, not a dropped socket."""
    async def run() -> list[str]:
        url = edge.slack("rtm.connect", made.token).json()["url"]
        async with connect(url + "&resume=e.%C2%B2") as ws:
            return [orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] for _ in range(2)]
    assert ["hello", "resync_required"] == asyncio.run(run())


def test_websocket_frames_nested_deep_answer_an_error_and_keep_the_socket(edge: Edge, made: Made) -> None:
    """A ping with a 500-deep payload gets an error frame (not a dropped socket); the next ping gets its pong."""
    async def run() -> list[str]:
        url = edge.slack("rtm.connect", made.token).json()["url"]
        async with connect(url) as ws:
            await ws.send('{"type": "ping", "id": 1, "x": ' + "[" * 500 + "]" * 500 + "}")
            await ws.send('{"type": "ping", "id": 2}')
            seen: list[str] = []
            async with asyncio.timeout(10):
                while len(seen) < 2:
                    frame = orjson.loads(await ws.recv())
                    if frame.get("reply_to") in (1, 2):
                        seen.append(frame["type"])
            return seen
    assert ["error", "pong"] == asyncio.run(run())


@pytest.mark.parametrize("path", ["/v1/cells/a%00b", "/v1/workspaces/T%00", "/v1/audit?actor=%00"])
def test_control_plane_refuses_nul_in_paths_and_queries(edge: Edge, path: str) -> None:
    """The control plane answers a NUL in a path or query with 400 invalid_arguments in JSON."""
    cp = edge.deployment.control_plane
    before = cp.catalog()
    answer = cp.http.get(cp.url + path, headers={"Authorization": f"Bearer {SRE}"})
    assert (400, "invalid_arguments", True) == (answer.status_code, answer.json()["error"], before == cp.catalog())


def test_cell_unknown_paths_answer_json(edge: Edge) -> None:
    """A path no route serves answers JSON, not Starlette's plain text."""
    answer = httpx.get(f"{edge.cell.url}/nowhere")
    assert (404, {"ok": False, "error": "unknown_method"}) == (answer.status_code, answer.json())
