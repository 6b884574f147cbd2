"""Counts change live on every device of a person (docs/notifications.md): reading on one device
tells all of them the new counts and badge; DND changes reach the person and their teammates."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from tests.support.cells import RunningCell
from tests.support.realtime import api, frame, socket

pytestmark = pytest.mark.anyio


def of_type(kind: str) -> Any:
    return lambda f: f.get("type") == kind


async def on_both(devices: list[ClientConnection], kind: str) -> list[dict[str, Any]]:
    return [await frame(device, of_type(kind)) for device in devices]


async def test_reading_on_one_device_updates_counts_on_every_device(cell: RunningCell) -> None:
    """Bob has two sockets. Marking a channel (one of its two mentions), then a DM, then a thread
    read (from one of them) brings channel_marked / im_marked / thread_marked and the falling
    badge to both; a snooze
    brings dnd_updated to both and dnd_updated_user to a teammate."""
    ws = cell.workspace()
    bob, carol = cell.user(ws, "bob"), cell.user(ws, "carol")
    async with socket(cell, bob.token) as phone, socket(cell, bob.token) as laptop, \
            socket(cell, ws.owner.token) as owner_socket:
        devices = [phone, laptop]
        for sock in (*devices, owner_socket):
            await frame(sock, of_type("hello"))
        mention = await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text=f"<@{bob.id}> hi")
        dm = (await api(cell.api, ws.owner.token, "conversations.open", users=bob.id))["channel"]["id"]
        psst = await api(cell.api, ws.owner.token, "chat.postMessage", channel=dm, text="psst")
        reply = await api(cell.api, carol.token, "chat.postMessage", channel=ws.general, thread_ts=mention["ts"],
                          text=f"<@{bob.id}> see thread")
        await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text=f"<@{bob.id}> again")
        assert (await api(cell.api, bob.token, "client.counts"))["badge"] == 4

        await api(cell.api, bob.token, "conversations.mark", channel=ws.general, ts=mention["ts"])
        marked = await on_both(devices, "channel_marked")
        badges = await on_both(devices, "badge_counts_updated")
        assert [(m["channel"], m["ts"], m["mention_count"]) for m in marked] == [(ws.general, mention["ts"], 1)] * 2
        assert [b["badge"] for b in badges] == [3, 3]

        await api(cell.api, bob.token, "conversations.mark", channel=dm, ts=psst["ts"])
        assert [m["channel"] for m in await on_both(devices, "im_marked")] == [dm, dm]
        assert [b["badge"] for b in await on_both(devices, "badge_counts_updated")] == [2, 2]

        await api(cell.api, bob.token, "subscriptions.thread.mark", channel=ws.general, thread_ts=mention["ts"],
                  ts=reply["ts"])
        threads = await on_both(devices, "thread_marked")
        assert [t["subscription"] for t in threads] == [{
            "type": "thread", "channel": ws.general, "thread_ts": mention["ts"], "active": True,
            "last_read": reply["ts"], "unread_count": 0}] * 2
        assert [(b["badge"], b["channel_badges"]) for b in await on_both(devices, "badge_counts_updated")] == [
            (1, {"channels": 1, "dms": 0, "thread_mentions": 0, "thread_unreads": 0})] * 2

        snoozed = await api(cell.api, bob.token, "dnd.setSnooze", num_minutes=15)
        told = await on_both(devices, "dnd_updated")
        assert [(t["user"], t["dnd_status"]["snooze_enabled"], t["dnd_status"]["snooze_endtime"]) for t in told] == [
            (bob.id, True, snoozed["snooze_endtime"])] * 2
        teammate = await frame(owner_socket, lambda f: f.get("type") == "dnd_updated_user" and f["user"] == bob.id)
        assert (teammate["dnd_status"]["next_dnd_end_ts"], "snooze_endtime" in teammate["dnd_status"]) == (
            snoozed["snooze_endtime"], False)
