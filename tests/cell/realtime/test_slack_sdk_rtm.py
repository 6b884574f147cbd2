"""The official slack_sdk RTM client works against a cell unchanged."""

from __future__ import annotations

import queue
import threading
from typing import Any

from slack_sdk import WebClient
from slack_sdk.rtm_v2 import RTMClient

from tests.support.cells import RunningCell


def test_slack_sdk_rtm_client_receives_a_message_posted_by_another_user(cell: RunningCell) -> None:
    """RTMClient (rtm_v2) connects through rtm.connect and receives a message posted with WebClient."""
    ws = cell.workspace()
    bot, _ = cell.bot(ws, "listener")
    WebClient(token=bot.token, base_url=cell.api).conversations_join(channel=ws.general)
    hello = threading.Event()
    messages: queue.Queue[dict[str, Any]] = queue.Queue()
    rtm = RTMClient(token=bot.token, base_url=cell.api)

    @rtm.on("hello")
    def on_hello(client: RTMClient, event: dict[str, Any]) -> None:
        hello.set()

    @rtm.on("message")
    def on_message(client: RTMClient, event: dict[str, Any]) -> None:
        messages.put(event)

    rtm.connect()
    try:
        assert hello.wait(10)
        posted = WebClient(token=ws.owner.token, base_url=cell.api).chat_postMessage(
            channel=ws.general, text="hello over RTM"
        )
        event = messages.get(timeout=10)
    finally:
        rtm.auto_reconnect_enabled = False
        rtm.close()
    expected = (posted["ts"], ws.general, ws.owner.id, "hello over RTM")
    assert expected == (event["ts"], event["channel"], event["user"], event["text"])
