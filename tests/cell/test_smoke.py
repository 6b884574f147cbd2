from __future__ import annotations

from slack_sdk import WebClient

from tests.support.cells import RunningCell


def test_post_then_history_through_slack_sdk(cell: RunningCell) -> None:
    """A message posted with slack_sdk is returned first by conversations.history."""
    ws = cell.workspace()
    client = WebClient(token=ws.owner.token, base_url=cell.api)
    posted = client.chat_postMessage(channel=ws.general, text="hello cells")
    history = client.conversations_history(channel=ws.general)
    assert [m["ts"] for m in history["messages"]] == [posted["ts"]]
    assert history["messages"][0]["text"] == "hello cells"
