"""The audit log's hash chain. Pure.

Each entry's hash covers its own fields and the previous entry's hash, so an
edited, removed or reordered entry breaks every hash after it. The first entry
links to ``GENESIS``. Details hold JSON scalars, lists and objects (no floats,
whose text form a JSON column could change).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
OUTCOMES = ("ok", "refused", "failed")


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str
    outcome: str
    reason: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": stamp(self.at), "actor": self.actor, "role": self.role,
                "action": self.action, "target": self.target, "outcome": self.outcome, "reason": self.reason,
                "details": self.details, "prev_hash": self.prev_hash, "hash": self.hash}


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def plain(value: Any) -> Any:
    """``value`` with floats as strings, so it hashes the same after a round trip through jsonb."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def digest(
    *, seq: int, at: datetime, actor: str, role: str, action: str, target: str, outcome: str,
    reason: str | None, details: dict[str, Any], prev_hash: str,
) -> str:
    body = {"seq": seq, "at": stamp(at), "actor": actor, "role": role, "action": action, "target": target,
            "outcome": outcome, "reason": reason, "details": details, "prev_hash": prev_hash}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    entries: int
    broken_at: int | None = None
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "broken_at": self.broken_at, "problem": self.problem}


class Verifier:
    """Checks a chain entry by entry (for logs too large to hold at once)."""

    def __init__(self, *, start_hash: str = GENESIS, start_seq: int = 1) -> None:
        self.previous, self.expected_seq, self.count = start_hash, start_seq, 0
        self.broken: Verdict | None = None

    def feed(self, entry: Entry) -> bool:
        """False once the chain is broken (at this entry or before)."""
        if self.broken is not None:
            return False
        self.count += 1
        problem = None
        if entry.seq != self.expected_seq:
            problem = f"expected entry {self.expected_seq}, found {entry.seq}"
        elif entry.prev_hash != self.previous:
            problem = "does not link to the previous entry"
        elif entry.hash != digest(seq=entry.seq, at=entry.at, actor=entry.actor, role=entry.role,
                                  action=entry.action, target=entry.target, outcome=entry.outcome,
                                  reason=entry.reason, details=entry.details, prev_hash=entry.prev_hash):
            problem = "its content does not match its hash"
        if problem is not None:
            self.broken = Verdict(False, self.count, entry.seq, problem)
            return False
        self.previous, self.expected_seq = entry.hash, self.expected_seq + 1
        return True

    def verdict(self) -> Verdict:
        return self.broken or Verdict(True, self.count)


def verify(entries: Iterable[Entry], *, start_hash: str = GENESIS, start_seq: int = 1) -> Verdict:
    """Whether ``entries`` (in ``seq`` order) form an unbroken chain starting after ``start_hash``."""
    verifier = Verifier(start_hash=start_hash, start_seq=start_seq)
    for entry in entries:
        if not verifier.feed(entry):
            break
    return verifier.verdict()
