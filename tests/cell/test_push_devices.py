"""``push.register`` / ``push.unregister`` / ``push.list`` through ``slack_sdk``: bad input gets
a precise error and changes nothing; the same device registered again is updated, not doubled."""

from __future__ import annotations

from slack_sdk import WebClient

from tests.support.cells import RunningCell, Workspace
from tests.support.chat import error_of

GOOD = "https://push.example.com/_matrix/push/v1/notify"

BAD = [
    ({"url": "http://push.example.com/notify"}, "invalid_url"),  # plain http
    ({"url": "ftp://push.example.com/notify"}, "invalid_url"),
    ({"url": "https:///notify"}, "invalid_url"),  # no host
    ({"url": "https://user:secret@push.example.com/"}, "invalid_url"),
    ({"url": "https://push.example.com:99999/"}, "invalid_url"),
    ({"url": "push.example.com/notify"}, "invalid_url"),
    ({"url": "https://push.example.com/a b"}, "invalid_url"),
    ({"app_id": ""}, "invalid_app_id"),
    ({"app_id": "bad app"}, "invalid_app_id"),
    ({"pushkey": ""}, "invalid_pushkey"),
    ({"pushkey": "x" * 513}, "invalid_pushkey"),
    ({"device_name": "n" * 101}, "invalid_arguments"),
]


def test_bad_registrations_are_refused_and_change_nothing(cell: RunningCell, ws: Workspace) -> None:
    """Each bad field is refused with its own error code; no device is registered."""
    client = WebClient(token=ws.owner.token, base_url=cell.api)
    answers = []
    for change, _ in BAD:
        args = {"app_id": "chat.cellchat.ios", "pushkey": "k", "url": GOOD, **change}
        answers.append(error_of(lambda args=args: client.api_call("push.register", json=args)))
    assert answers == [code for _, code in BAD]
    assert client.api_call("push.list")["devices"] == []


def test_register_list_update_unregister(cell: RunningCell, ws: Workspace) -> None:
    """A device registered twice (same app and pushkey) is one device with the new URL; another
    person cannot remove it; its owner can, once."""
    client = WebClient(token=ws.owner.token, base_url=cell.api)
    first = client.api_call("push.register", json={"app_id": "a.b", "pushkey": "k", "url": GOOD})["device"]
    again = client.api_call("push.register", json={"app_id": "a.b", "pushkey": "k", "url": GOOD + "2",
                                                   "device_name": "phone"})["device"]
    assert (again["id"], again["url"], again["device_name"]) == (first["id"], GOOD + "2", "phone")
    assert [d["id"] for d in client.api_call("push.list")["devices"]] == [first["id"]]
    other = WebClient(token=cell.user(ws, "mallory").token, base_url=cell.api)
    assert error_of(lambda: other.api_call("push.unregister", json={"device": first["id"]})) == "device_not_found"
    client.api_call("push.unregister", json={"device": first["id"]})
    assert error_of(lambda: client.api_call("push.unregister", json={"device": first["id"]})) == "device_not_found"
    assert client.api_call("push.list")["devices"] == []
