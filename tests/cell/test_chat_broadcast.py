"""``chat.postMessage`` refuses ``@here``/``@channel``/``@everyone`` in a channel with more members
than ``notify.broadcast_confirm_members`` unless confirmed (as Slack's and Mattermost's clients
ask first), with a precise error and nothing written."""

from __future__ import annotations

import httpx
from slack_sdk import WebClient

from tests.support.cells import running_cell
from tests.support.chat import error_of, posted_rows
from tests.support.infra import Infra


def test_a_large_broadcast_needs_confirmation(infra: Infra) -> None:
    """Four members, limit three: each broadcast is refused and writes nothing; confirmed, it is
    posted; a plain message and a broadcast in a small enough channel need no confirmation."""
    with running_cell(infra, notify={"broadcast_confirm_members": 3}) as cell:
        ws = cell.workspace()
        owner = WebClient(token=ws.owner.token, base_url=cell.api)
        small = owner.conversations_create(name="small")["channel"]["id"]
        for name in ("ann", "bob", "cat"):
            cell.user(ws, name)
        before = posted_rows(cell, ws.general)
        codes = [error_of(lambda text=text: owner.chat_postMessage(channel=ws.general, text=text))
                 for text in ("<!channel> deploy", "<!here> lunch", "hi <!everyone>")]
        assert codes == ["broadcast_confirmation_required"] * 3
        assert posted_rows(cell, ws.general) == before
        refused = httpx.post(cell.api + "chat.postMessage", json={"channel": ws.general, "text": "<!here>"},
                             headers={"Authorization": f"Bearer {ws.owner.token}"}).json()
        assert refused["response_metadata"]["messages"] == [
            "[ERROR] <!here> would notify 4 members (more than 3); send it again with confirm_broadcast=true"]
        owner.chat_postMessage(channel=ws.general, text="<!channel> deploy", confirm_broadcast=True)
        owner.chat_postMessage(channel=ws.general, text="no broadcast here")
        owner.chat_postMessage(channel=small, text="<!channel> small room")
        assert posted_rows(cell, ws.general) == before + 2
