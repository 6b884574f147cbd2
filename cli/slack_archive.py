"""Reading a Slack export archive safely, for ``cellctl workspaces import``.

The whole archive is checked before anything is created: it must be a zip, no member name may
climb out of the archive (absolute, ``..``, backslashes, NULs), the declared sizes are bounded
(total, per member, and the compression ratio of large members: a zip bomb is refused before a
byte is inflated, and ``zipfile`` never inflates past a member's declared size), and every
JSON file must parse and have Slack's shape. Then :meth:`Archive.batches` yields the batches the
cell takes, reading one day file at a time, and :attr:`Archive.unmapped` says what has no place
in Cellchat (system messages of unknown kinds, files whose bytes the archive lacks, ...).
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_MEMBERS = 2_000_000
MAX_RATIO = 200            # inflated/compressed, for members past RATIO_FLOOR bytes
RATIO_FLOOR = 16 * 1024 ** 2
MAX_JSON_MEMBER = 512 * 1024 ** 2
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
_TS = re.compile(r"^\d{1,12}(\.\d{1,6})?$")
KINDS = {"channels.json": "public", "groups.json": "private", "dms.json": "im", "mpims.json": "mpim"}
UPLOADS = "__uploads/"


class ArchiveError(Exception):
    """The archive is refused; ``str()`` says exactly why (and where)."""


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class SourceTopic(_Loose):
    value: str = ""
    creator: str | None = None
    last_set: int = 0


class SourceProfile(_Loose):
    email: str | None = None
    real_name: str | None = None
    bot_id: str | None = None


class SourceUser(_Loose):
    id: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1)
    real_name: str | None = None
    deleted: bool = False
    tz: str | None = None
    is_admin: bool = False
    is_owner: bool = False
    is_primary_owner: bool = False
    is_bot: bool = False
    profile: SourceProfile = SourceProfile()


class SourcePin(_Loose):
    id: str
    user: str | None = None
    created: int | None = None


class SourceConversation(_Loose):
    id: str = Field(min_length=1, max_length=40)
    name: str | None = None
    created: int = 0
    creator: str | None = None
    is_archived: bool = False
    members: list[str] = Field(default_factory=list)
    topic: SourceTopic = SourceTopic()
    purpose: SourceTopic = SourceTopic()
    pins: list[SourcePin] = Field(default_factory=list)


class SourceReaction(_Loose):
    name: str
    users: list[str] = Field(default_factory=list)
    count: int = 0


class SourceEdited(_Loose):
    user: str
    ts: str


class SourceMessage(_Loose):
    ts: str = Field(pattern=_TS.pattern)
    type: str = "message"
    user: str | None = None
    bot_id: str | None = None
    subtype: str | None = None
    text: str = ""
    thread_ts: str | None = Field(default=None, pattern=_TS.pattern)
    client_msg_id: str | None = None
    edited: SourceEdited | None = None
    reactions: list[SourceReaction] = Field(default_factory=list)
    files: list[dict[str, Any]] = Field(default_factory=list)
    blocks: list[Any] | None = None
    attachments: list[Any] | None = None
    pinned_to: list[str] = Field(default_factory=list)
    cellchat_hold: dict[str, Any] | None = None


def _safe_name(name: str) -> bool:
    if not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name or re.match(r"^[A-Za-z]:", name):
        return False
    return not any(part in ("..", ".") for part in name.split("/"))


@dataclass
class Conversation:
    source: SourceConversation
    kind: str
    folder: str
    days: list[str] = field(default_factory=list)


@dataclass
class Batch:
    kind: str                     # users, conversations, files, messages
    items: list[dict[str, Any]]
    messages: int = 0


class Archive:
    """An opened, checked archive. Use as a context manager."""

    def __init__(self, path: Path, *, max_bytes: int) -> None:
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ArchiveError(f"{path}: not a zip archive ({exc})") from exc
        self.unmapped: Counter[tuple[str, str]] = Counter()
        self.examples: dict[tuple[str, str], str] = {}
        self._check_members(max_bytes)
        self.users = self._load_users()
        self.conversations = self._load_conversations()
        self.pins = {(c.source.id, p.id): p for c in self.conversations.values() for p in c.source.pins}
        self.total_messages = 0
        self.files: dict[str, dict[str, Any]] = {}
        self._check_days()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.zip.close()

    # --- checks -----------------------------------------------------------------------------

    def _check_members(self, max_bytes: int) -> None:
        infos = self.zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ArchiveError(f"{self.path}: {len(infos)} members, more than {MAX_MEMBERS}")
        total = 0
        for info in infos:
            if not _safe_name(info.filename):
                raise ArchiveError(f"{self.path}: unsafe member name {info.filename!r} (absolute, '..' or backslash)")
            total += info.file_size
            if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise ArchiveError(f"{self.path}: {info.filename} inflates {info.compress_size} bytes to "
                                   f"{info.file_size} (more than {MAX_RATIO}x): refused as a zip bomb")
            if info.filename.endswith(".json") and info.file_size > MAX_JSON_MEMBER:
                raise ArchiveError(f"{self.path}: {info.filename} is {info.file_size} bytes, more than a JSON file "
                                   f"of an export may be ({MAX_JSON_MEMBER})")
        if total > max_bytes:
            raise ArchiveError(f"{self.path}: inflates to {total} bytes, more than --max-bytes {max_bytes}")
        self.names = {info.filename for info in infos}

    def _json(self, name: str) -> Any:
        try:
            with self.zip.open(name) as member:
                return orjson.loads(member.read())
        except orjson.JSONDecodeError as exc:
            raise ArchiveError(f"{name}: not valid JSON ({exc})") from exc
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ArchiveError(f"{name}: cannot be read from the archive ({exc})") from exc

    def _models(self, name: str, model: type[BaseModel], data: Any) -> list[Any]:
        if not isinstance(data, list):
            raise ArchiveError(f"{name}: expected a JSON list, found {type(data).__name__}")
        found = []
        for index, item in enumerate(data):
            try:
                found.append(model.model_validate(item))
            except ValidationError as exc:
                problem = exc.errors()[0]
                where = ".".join(str(p) for p in problem["loc"])
                raise ArchiveError(f"{name}[{index}]{'.' + where if where else ''}: {problem['msg']}") from exc
        return found

    def _load_users(self) -> dict[str, SourceUser]:
        name = "users.json" if "users.json" in self.names else "org_users.json"
        if name not in self.names:
            raise ArchiveError(f"{self.path}: no users.json: not a Slack export")
        users: list[SourceUser] = self._models(name, SourceUser, self._json(name))
        return {u.id: u for u in users}

    def _load_conversations(self) -> dict[str, Conversation]:
        if "channels.json" not in self.names:
            raise ArchiveError(f"{self.path}: no channels.json: not a Slack export")
        found: dict[str, Conversation] = {}
        for name, kind in KINDS.items():
            if name not in self.names:
                continue
            for conv in self._models(name, SourceConversation, self._json(name)):
                if kind != "im" and not conv.name:
                    raise ArchiveError(f"{name}: conversation {conv.id} has no name")
                folder = conv.id if kind == "im" else str(conv.name)
                if folder in found:
                    raise ArchiveError(f"{name}: two conversations use the folder {folder!r}")
                found[folder] = Conversation(conv, kind, folder)
        return found

    def _check_days(self) -> None:
        for name in sorted(self.names):
            if name.endswith("/") or name.startswith(UPLOADS) or "/" not in name:
                continue
            folder, _, day = name.rpartition("/")
            conv = self.conversations.get(folder)
            if conv is None or not _DAY.match(day):
                self._note("archive_member", "unknown_folder_or_name", name)
                continue
            conv.days.append(name)
            for index, message in enumerate(self._models(name, SourceMessage, self._json(name))):
                self.total_messages += 1
                for f in message.files:
                    if isinstance(f.get("id"), str) and f["id"] not in self.files and f.get("mode") != "tombstone":
                        self.files[f["id"]] = f
                del index

    def _note(self, kind: str, reason: str, example: str, n: int = 1) -> None:
        self.unmapped[(kind, reason)] += n
        self.examples.setdefault((kind, reason), example)

    # --- what the cell takes -------------------------------------------------------------

    def owner(self) -> str | None:
        """The source id of the person who owns the imported workspace."""
        for test in (lambda u: u.is_primary_owner, lambda u: u.is_owner, lambda u: u.is_admin):
            for user in self.users.values():
                if test(user) and not user.deleted and not user.is_bot:
                    return user.id
        return None

    def user_batch(self) -> Batch:
        return Batch("users", [{
            "id": u.id, "name": u.name[:200], "real_name": (u.real_name or u.profile.real_name or "")[:200],
            "email": u.profile.email, "is_admin": u.is_admin, "is_owner": u.is_owner or u.is_primary_owner,
            "is_bot": u.is_bot, "bot_id": u.profile.bot_id, "deleted": u.deleted, "tz": u.tz,
        } for u in self.users.values()])

    def conversation_batch(self) -> Batch:
        items = []
        for conv in self.conversations.values():
            s = conv.source
            members = [m for m in s.members if m in self.users]
            if len(members) < len(s.members):
                self._note("membership", "member_not_in_users_json", s.id, len(s.members) - len(members))
            items.append({
                "id": s.id, "kind": conv.kind, "name": (s.name or s.id)[:200], "created": s.created,
                "creator": s.creator, "is_archived": s.is_archived, "members": members,
                "topic": {"value": s.topic.value[:1000], "creator": s.topic.creator, "last_set": s.topic.last_set},
                "purpose": {"value": s.purpose.value[:1000], "creator": s.purpose.creator,
                            "last_set": s.purpose.last_set},
            })
        return Batch("conversations", items)

    def upload_of(self, file_id: str) -> str | None:
        """The archive member holding a file's bytes (``__uploads/<F>/<name>``), if the archive has it."""
        prefix = f"{UPLOADS}{file_id}/"
        return next((n for n in sorted(self.names) if n.startswith(prefix) and not n.endswith("/")), None)

    def file_content(self, member: str) -> tuple[str, int]:
        """A member's sha256 and size, read as a stream."""
        digest = hashlib.sha256()
        size = 0
        with self.zip.open(member) as stream:
            while chunk := stream.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
        return digest.hexdigest(), size

    def open(self, member: str) -> IO[bytes]:
        return self.zip.open(member)

    def file_record(self, file_id: str, sha256: str, size: int, member: str) -> dict[str, Any]:
        f = self.files[file_id]
        name = str(f.get("name") or member.rsplit("/", 1)[-1])[:255]
        return {"id": file_id, "user": str(f.get("user") or "USLACKBOT"), "name": name,
                "title": str(f.get("title") or name)[:255], "mimetype": f.get("mimetype") or None,
                "filetype": (f.get("filetype") or None), "size": size, "sha256": sha256,
                "created": int(f.get("created") or 0)}

    def message_batches(self, *, max_items: int, max_bytes: int) -> Iterator[Batch]:
        """Every message of every conversation, in batches, one day file read at a time."""
        items: list[dict[str, Any]] = []
        size = 0
        for conv in self.conversations.values():
            for name in sorted(conv.days):
                for message in self._models(name, SourceMessage, self._json(name)):
                    item = self._message(conv, message)
                    if item is None:
                        continue
                    encoded = len(orjson.dumps(item))
                    if items and (len(items) >= max_items or size + encoded > max_bytes):
                        yield Batch("messages", items, len(items))
                        items, size = [], 0
                    items.append(item)
                    size += encoded
        if items:
            yield Batch("messages", items, len(items))

    def _message(self, conv: Conversation, m: SourceMessage) -> dict[str, Any] | None:
        if m.cellchat_hold is not None:
            self._note("message", "held_copy_of_a_deleted_message", f"{conv.folder} {m.ts}")
            return None
        if m.type != "message":
            self._note("message", f"type_{m.type}", f"{conv.folder} {m.ts}")
            return None
        if m.user is not None and m.user not in self.users:
            self._note("message", "author_not_in_users_json", m.user)
        files = []
        for f in m.files:
            file_id = f.get("id")
            if isinstance(file_id, str) and file_id in self.files:
                files.append(file_id)
        reactions = []
        for r in m.reactions:
            users = [u for u in r.users if isinstance(u, str)]
            if r.count > len(users):
                self._note("reaction", "users_list_truncated_in_export", f"{conv.folder} {m.ts} :{r.name}:",
                           r.count - len(users))
            reactions.append({"name": r.name.strip(":")[:120], "users": users[:1000]})
        pin = self.pins.get((conv.source.id, m.ts))
        pinned_by = (pin.user if pin else None) or (m.user if conv.source.id in m.pinned_to else None)
        return {
            "conversation": conv.source.id, "kind": conv.kind, "ts": m.ts, "user": m.user, "bot_id": m.bot_id,
            "subtype": m.subtype, "text": m.text[:40_000], "blocks": m.blocks, "attachments": m.attachments,
            "thread_ts": m.thread_ts, "client_msg_id": m.client_msg_id,
            "edited": {"user": m.edited.user, "ts": m.edited.ts} if m.edited else None,
            "reactions": reactions, "files": files[:20],
            "pinned_by": pinned_by, "pinned_at": pin.created if pin else None,
        }

    def report(self) -> list[dict[str, Any]]:
        """What could not be mapped: kind, reason, how many, one example."""
        return [{"kind": kind, "reason": reason, "count": count, "example": self.examples.get((kind, reason))}
                for (kind, reason), count in sorted(self.unmapped.items())]
