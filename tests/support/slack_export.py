"""A Slack export made in the test, in the format Slack documents (docs/compliance.md, "Import"):
``users.json``, ``channels.json``, ``groups.json``, ``dms.json``, ``mpims.json``,
``integration_logs.json``, one folder per conversation (DMs by id) with one JSON file per day,
and files' bytes under ``__uploads/<F>/<name>`` (the layout export tools write when they
include files)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

DAY = 86_400
START = 1_700_000_000  # 2023-11-14


@dataclass
class Made:
    path: Path
    messages: int
    replies: int
    reactions: int
    pins: int
    files: dict[str, bytes] = field(default_factory=dict)
    conversations: int = 0
    users: int = 0


def _user(uid: str, name: str, **flags: Any) -> dict[str, Any]:
    return {"id": uid, "team_id": "TSOURCE0001", "name": name, "deleted": False, "real_name": name.title(),
            "tz": "Europe/Paris", "profile": {"real_name": name.title(), "display_name": name,
                                              "email": f"{name}@source.example.com"},
            "is_admin": flags.get("admin", False), "is_owner": flags.get("owner", False),
            "is_primary_owner": flags.get("primary", False), "is_bot": False, "updated": START}


def _conv(cid: str, name: str, members: list[str], **extra: Any) -> dict[str, Any]:
    return {"id": cid, "name": name, "created": START - DAY, "creator": members[0], "is_archived": False,
            "is_general": name == "general", "members": members,
            "topic": {"value": f"topic of {name}", "creator": members[0], "last_set": START - DAY},
            "purpose": {"value": f"purpose of {name}", "creator": members[0], "last_set": START - DAY}, **extra}


def _ts(seconds: int, n: int) -> str:
    return f"{seconds}.{n:06d}"


def make(path: Path, *, per_channel: int = 30, days: int = 3, files: int = 2) -> Made:
    """Write an export: 4 people, #general, #random, a private channel, a DM and a group DM; threads
    (every 10th message has 2 replies), reactions, pins and files with bytes."""
    users = ["USRC00001", "USRC00002", "USRC00003", "USRC00004"]
    names = ["ada", "bob", "cyd", "dee"]
    people = [_user(u, n, admin=i == 0, owner=i == 0, primary=i == 0) for i, (u, n) in enumerate(zip(users, names, strict=True))]
    channels = [_conv("CSRC00001", "general", users), _conv("CSRC00002", "random", users[:3])]
    groups = [_conv("GSRC00001", "secret", users[:2])]
    dms = [{"id": "DSRC00001", "created": START - DAY, "members": users[:2]}]
    mpims = [_conv("GSRC00002", "mpdm-ada--bob--cyd-1", users[:3])]
    folders = [("general", "CSRC00001", users), ("random", "CSRC00002", users[:3]),
               ("secret", "GSRC00001", users[:2]), ("DSRC00001", "DSRC00001", users[:2]),
               ("mpdm-ada--bob--cyd-1", "GSRC00002", users[:3])]
    made = Made(path, 0, 0, 0, 0, conversations=5, users=4)
    contents = {f"FSRC{i:05d}": f"file {i} ".encode() * (200 + i) for i in range(files)}
    made.files = contents
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        by_day: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for folder, cid, members in folders:
            for n in range(per_channel):
                seconds = START + (n * days * DAY) // per_channel
                ts = _ts(seconds, n + 1)
                author = members[n % len(members)]
                message: dict[str, Any] = {"type": "message", "user": author, "text": f"{folder} message {n}",
                                           "ts": ts, "client_msg_id": f"00000000-0000-4000-{cid[:4]}-{cid[-5:]}{n:07d}"}
                if n % 7 == 3:
                    message["reactions"] = [{"name": "thumbsup", "users": members[:2], "count": 2},
                                            {"name": "eyes", "users": members[-1:], "count": 1}]
                    made.reactions += 3
                if n % 11 == 5:
                    message["edited"] = {"user": author, "ts": _ts(seconds + 60, 0)}
                if n == 1 and folder == "general":
                    message["text"] = f"hello <@{users[1]}>, see <#CSRC00002|random>"
                    message["pinned_to"] = [cid]
                if folder == "general" and n < files:
                    fid = f"FSRC{n:05d}"
                    message["files"] = [{"id": fid, "name": f"notes-{n}.txt", "title": f"Notes {n}",
                                         "mimetype": "text/plain", "filetype": "text", "size": len(contents[fid]),
                                         "user": author, "created": seconds, "url_private": "https://files"}]
                    archive.writestr(f"__uploads/{fid}/notes-{n}.txt", contents[fid])
                replies = []
                if n % 10 == 0:
                    for r in range(2):
                        replier = members[(n + r + 1) % len(members)]
                        replies.append({"type": "message", "user": replier, "text": f"reply {r} to {n}",
                                        "ts": _ts(seconds + 10 + r, 0), "thread_ts": ts, "parent_user_id": author})
                    message.update({"thread_ts": ts, "reply_count": 2, "replies": [
                        {"user": x["user"], "ts": x["ts"]} for x in replies]})
                    made.replies += 2
                for item in [message, *replies]:
                    day = datetime.fromtimestamp(int(item["ts"].split(".")[0]), UTC).strftime("%Y-%m-%d")
                    by_day.setdefault((folder, day), []).append(item)
                made.messages += 1 + len(replies)
        channels[0]["pins"] = [{"id": _ts(START + (1 * days * DAY) // per_channel, 2), "type": "C",
                                "created": START, "user": users[0], "owner": users[0]}]
        made.pins = 1
        for (folder, day), items in sorted(by_day.items()):
            items.sort(key=lambda m: float(m["ts"]))
            archive.writestr(f"{folder}/{day}.json", orjson.dumps(items, option=orjson.OPT_INDENT_2))
        for name, data in (("users.json", people), ("channels.json", channels), ("groups.json", groups),
                           ("dms.json", dms), ("mpims.json", mpims), ("integration_logs.json", {"logs": []})):
            archive.writestr(name, orjson.dumps(data, option=orjson.OPT_INDENT_2))
    path.write_bytes(buffer.getvalue())
    return made


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
