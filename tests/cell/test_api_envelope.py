"""The /api/<method> envelope: parsing, auth, limits and Slack error codes over real HTTP."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.support.cells import RunningCell, running_cell
from tests.support.infra import Infra


def call(
    cell: RunningCell, method: str, token: str | None = None, *, content_type: str | None = None, **kwargs: object
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if content_type:
        headers["Content-Type"] = content_type
    return httpx.post(f"{cell.api}{method}", headers=headers, **kwargs)  # type: ignore[arg-type]


def message_count(cell: RunningCell) -> int:
    with psycopg.connect(cell.dsn) as conn:
        row = conn.execute("SELECT count(*) FROM messages").fetchone()
    assert row is not None
    return int(row[0])


def test_api_test_echoes_arguments_through_slack_sdk(cell: RunningCell) -> None:
    """api.test answers ok and echoes its arguments, as Slack's does."""
    ws = cell.workspace()
    client = WebClient(token=ws.owner.token, base_url=cell.api)
    assert client.api_test(foo="bar")["args"] == {"foo": "bar"}


def test_api_test_error_argument_is_returned_as_the_error(cell: RunningCell) -> None:
    """api.test with error=X answers ok false with error X."""
    ws = cell.workspace()
    with pytest.raises(SlackApiError) as raised:
        WebClient(token=ws.owner.token, base_url=cell.api).api_test(error="my_error")
    assert raised.value.response["error"] == "my_error"


def test_auth_test_names_the_caller(cell: RunningCell) -> None:
    """auth.test returns the caller's user and workspace ids."""
    ws = cell.workspace()
    answer = WebClient(token=ws.owner.token, base_url=cell.api).auth_test()
    assert (answer["user_id"], answer["team_id"]) == (ws.owner.id, ws.id)


def test_unknown_method(cell: RunningCell) -> None:
    """A method that does not exist answers unknown_method."""
    ws = cell.workspace()
    assert call(cell, "chat.teleport", ws.owner.token).json() == {"ok": False, "error": "unknown_method"}


def test_missing_token_is_not_authed(cell: RunningCell) -> None:
    """No token at all answers not_authed."""
    assert call(cell, "auth.test").json() == {"ok": False, "error": "not_authed"}


@pytest.mark.parametrize(
    "token",
    ["garbage", "xoxp-T0000000000-K0000000000-nope", "xoxb-TNOTREAL00-KNOTREAL00-secret"],
)
def test_bad_token_is_invalid_auth(cell: RunningCell, token: str) -> None:
    """A malformed or unknown token answers invalid_auth."""
    cell.workspace()
    assert call(cell, "auth.test", token).json() == {"ok": False, "error": "invalid_auth"}


def test_token_with_wrong_secret_is_invalid_auth(cell: RunningCell) -> None:
    """A real token id with a forged secret answers invalid_auth."""
    ws = cell.workspace()
    forged = ws.owner.token.rsplit("-", 1)[0] + "-forged"
    assert call(cell, "auth.test", forged).json() == {"ok": False, "error": "invalid_auth"}


def test_token_parameter_is_accepted(cell: RunningCell) -> None:
    """Slack's legacy token form parameter authenticates like the header."""
    ws = cell.workspace()
    answer = httpx.post(f"{cell.api}auth.test", data={"token": ws.owner.token}).json()
    assert answer["user_id"] == ws.owner.id


def test_malformed_json_is_invalid_json_and_writes_nothing(cell: RunningCell) -> None:
    """A JSON body that does not parse answers invalid_json and stores nothing."""
    ws = cell.workspace()
    answer = call(cell, "chat.postMessage", ws.owner.token, content=b'{"channel": "C1", "text": ', content_type="application/json")
    assert (answer.json()["error"], message_count(cell)) == ("invalid_json", 0)


def test_json_body_must_be_an_object(cell: RunningCell) -> None:
    """A JSON array body answers invalid_json."""
    ws = cell.workspace()
    answer = call(cell, "auth.test", ws.owner.token, content=b"[1, 2]", content_type="application/json")
    assert answer.json()["error"] == "invalid_json"


def test_json_body_is_accepted(cell: RunningCell) -> None:
    """Arguments in a JSON body work like form arguments."""
    ws = cell.workspace()
    answer = call(cell, "chat.postMessage", ws.owner.token, json={"channel": ws.general, "text": "json"})
    assert answer.json()["message"]["text"] == "json"


def test_query_string_arguments_are_accepted(cell: RunningCell) -> None:
    """Arguments in the query string work for GET requests."""
    ws = cell.workspace()
    WebClient(token=ws.owner.token, base_url=cell.api).chat_postMessage(channel=ws.general, text="q")
    answer = httpx.get(f"{cell.api}conversations.history", params={"channel": ws.general, "limit": "1"},
                       headers={"Authorization": f"Bearer {ws.owner.token}"}).json()
    assert [m["text"] for m in answer["messages"]] == ["q"]


def test_unsupported_content_type_is_invalid_form_data(cell: RunningCell) -> None:
    """A body in an unknown content type answers invalid_form_data."""
    ws = cell.workspace()
    answer = call(cell, "auth.test", ws.owner.token, content=b"<xml/>", content_type="text/xml")
    assert answer.json()["error"] == "invalid_form_data"


def test_missing_required_argument_is_invalid_arguments(cell: RunningCell) -> None:
    """A missing required argument answers invalid_arguments and names the field."""
    ws = cell.workspace()
    answer = call(cell, "chat.postMessage", ws.owner.token, data={"text": "no channel"}).json()
    assert answer["error"] == "invalid_arguments"
    assert "channel" in answer["response_metadata"]["messages"][0]


def test_out_of_range_limit_is_invalid_arguments(cell: RunningCell) -> None:
    """A limit above 1000 answers invalid_arguments."""
    ws = cell.workspace()
    answer = call(cell, "conversations.history", ws.owner.token, data={"channel": ws.general, "limit": "1001"})
    assert answer.json()["error"] == "invalid_arguments"


def test_text_over_40000_characters_is_msg_too_long(cell: RunningCell) -> None:
    """A message longer than 40,000 characters answers msg_too_long and stores nothing."""
    ws = cell.workspace()
    answer = call(cell, "chat.postMessage", ws.owner.token, json={"channel": ws.general, "text": "x" * 40_001})
    assert (answer.json()["error"], message_count(cell)) == ("msg_too_long", 0)


def test_bad_cursor_is_invalid_cursor(cell: RunningCell) -> None:
    """A cursor we did not issue answers invalid_cursor."""
    ws = cell.workspace()
    for cursor in ("not-base64!", "dXNlcnM6VTEyMw", "aGlzdG9yeTp4"):  # junk, a users cursor, history:x
        answer = call(cell, "conversations.history", ws.owner.token, data={"channel": ws.general, "cursor": cursor})
        assert answer.json()["error"] in ("invalid_cursor",), cursor


def test_body_over_the_limit_is_413_and_writes_nothing(infra: Infra) -> None:
    """A body larger than the configured limit answers 413 request_too_large."""
    with running_cell(infra, api={"port": 0, "max_body_bytes": 2048}) as small:
        ws = small.workspace()
        answer = call(small, "chat.postMessage", ws.owner.token, json={"channel": ws.general, "text": "y" * 4096})
        assert (answer.status_code, answer.json()["error"], message_count(small)) == (413, "request_too_large", 0)


def test_rate_limit_answers_429_with_retry_after(infra: Infra) -> None:
    """Past the tier's per-window limit a token gets 429 with Retry-After; others are unaffected."""
    with running_cell(infra, rate_limits={"tier4": 3, "window_seconds": 3600}) as limited:
        ws = limited.workspace()
        other = limited.user(limited.workspace("other"), "ann")
        codes = [call(limited, "auth.test", ws.owner.token).status_code for _ in range(4)]
        last = call(limited, "auth.test", ws.owner.token)
        assert codes == [200, 200, 200, 429]
        assert (last.json()["error"], 1 <= int(last.headers["Retry-After"]) <= 3600) == ("ratelimited", True)
        assert call(limited, "auth.test", other.token).status_code == 200


def test_slack_sdk_sees_the_rate_limit(infra: Infra) -> None:
    """slack_sdk reports our 429 as Slack's ratelimited error with its Retry-After header."""
    with running_cell(infra, rate_limits={"tier4": 1, "window_seconds": 3600}) as limited:
        ws = limited.workspace()
        client = WebClient(token=ws.owner.token, base_url=limited.api)
        client.auth_test()
        with pytest.raises(SlackApiError) as raised:
            client.auth_test()
        assert (raised.value.response.status_code, raised.value.response["error"]) == (429, "ratelimited")
        assert int(raised.value.response.headers["Retry-After"]) >= 1
