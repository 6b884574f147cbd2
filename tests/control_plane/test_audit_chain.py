"""The audit hash chain: intact chains verify; any edit, removal or reordering is caught."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from control_plane.domain.audit import GENESIS, Entry, digest, verify


def chain(n: int) -> list[Entry]:
    entries, previous = [], GENESIS
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for seq in range(1, n + 1):
        fields = {"seq": seq, "at": start + timedelta(seconds=seq), "actor": "cora", "role": "compliance",
                  "action": "workspaces.pin", "target": f"T00000000{seq}", "outcome": "ok", "reason": "gdpr",
                  "details": {"to": "eu", "n": seq}, "prev_hash": previous}
        entry = Entry(**fields, hash=digest(**fields))  # type: ignore[arg-type]
        entries.append(entry)
        previous = entry.hash
    return entries


def test_intact_chain_verifies() -> None:
    """Five linked entries verify."""
    assert (True, 5) == (verify(chain(5)).ok, verify(chain(5)).entries)


def test_edited_entry_is_caught() -> None:
    """Changing one entry's details breaks the chain at that entry."""
    entries = chain(5)
    entries[2] = dataclasses.replace(entries[2], details={"to": "us", "n": 3})
    assert (False, 3) == (verify(entries).ok, verify(entries).broken_at)


def test_removed_entry_is_caught() -> None:
    """Dropping an entry breaks the chain where the gap is."""
    entries = chain(5)
    del entries[1]
    assert (False, 3) == (verify(entries).ok, verify(entries).broken_at)


def test_reordered_entries_are_caught() -> None:
    """Swapping two entries breaks the chain."""
    entries = chain(4)
    entries[1], entries[2] = entries[2], entries[1]
    assert False is verify(entries).ok


def test_rehashed_edit_is_caught_by_the_next_entry() -> None:
    """An edit whose hash is recomputed still breaks the link from the entry after it."""
    entries = chain(4)
    edited = dataclasses.replace(entries[1], reason="nothing to see")
    fields = {f.name: getattr(edited, f.name) for f in dataclasses.fields(edited) if f.name != "hash"}
    entries[1] = dataclasses.replace(edited, hash=digest(**fields))
    assert (False, 3) == (verify(entries).ok, verify(entries).broken_at)
