"""Residency reports: where a workspace's data has lived, derived from its audit entries. Pure.

A workspace's data — messages, files, search data (columns of its messages and files) and the
backups of them — lives in the cell that serves it: the cell's PostgreSQL, object store and
their backups, all in the cell's region. It reaches another cell only by a move, whose
replication starts at ``migrations.start``; it leaves a cell when a move is aborted (the target
is cleaned) or when ``migrations.gc`` deletes the source's old copy. Every one of these is an
audit entry, so the audit log alone says which cells (and so regions) have held the data, when,
and who decided.

A report is signed with Ed25519 over its canonical JSON (sorted keys, no spaces, UTF-8), so an
auditor can check it offline with the published public key (``verify``): the signature, every
included entry's hash, that the cells listed follow from those entries, and that the control
plane found the whole chain intact when it wrote the report.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from control_plane.domain.audit import Entry, digest, stamp

KIND = "cellchat.residency/v1"
DATA = ("messages", "files", "search", "backups")
# The actions that change where a workspace's data is, or where it may be.
RESIDENCY_ACTIONS = frozenset({"workspaces.create", "migrations.start", "workspaces.move", "migrations.finish",
                               "migrations.gc", "workspaces.pin", "workspaces.unpin"})


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _decision(entry: Entry) -> dict[str, Any]:
    return {"seq": entry.seq, "at": stamp(entry.at), "actor": entry.actor, "role": entry.role,
            "action": entry.action, "reason": entry.reason}


def cells_of(entries: list[Entry]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """``(cells, pins, violations)`` from a workspace's audit entries in ``seq`` order.

    Each cell: name, region, ``arrived_at`` (first time data reached it), ``left_at`` (when its
    copy was deleted, None while it may still hold one), ``home`` (it served the workspace at
    some time), ``data`` and the ``decisions`` (entries) that brought data there or took it away.
    A violation is data reaching a cell outside the region the workspace was pinned to then.
    """
    cells: dict[str, dict[str, Any]] = {}
    pins: list[dict[str, Any]] = []
    violations: list[dict[str, Any]] = []
    pin: str | None = None

    def arrive(cell: str, region: str | None, entry: Entry, *, home: bool) -> None:
        found = cells.get(cell)
        if found is None or found["left_at"] is not None:
            found = cells[cell] = {"cell": cell, "region": region, "arrived_at": stamp(entry.at), "left_at": None,
                                   "home": home, "data": list(DATA), "decisions": []}
        found["home"] = found["home"] or home
        found["region"] = found["region"] or region
        found["decisions"].append(_decision(entry))
        if pin is not None and region is not None and region != pin:
            violations.append({"cell": cell, "region": region, "pinned_to": pin, **_decision(entry)})

    def leave(cell: str, entry: Entry) -> None:
        found = cells.get(cell)
        if found is not None and found["left_at"] is None:
            found["left_at"] = stamp(entry.at)
            found["decisions"].append(_decision(entry))

    for entry in entries:
        if entry.outcome != "ok" or entry.action not in RESIDENCY_ACTIONS:
            continue
        d = entry.details
        if entry.action == "workspaces.create":
            if d.get("region_pin"):
                pin = str(d["region_pin"])
                pins.append({"region": pin, **_decision(entry)})
            arrive(str(d["cell"]), d.get("region"), entry, home=True)
        elif entry.action in ("workspaces.pin", "workspaces.unpin"):
            pin = d.get("to")
            pins.append({"region": pin, **_decision(entry)})
        elif entry.action == "migrations.start":
            arrive(str(d["target"]), d.get("to_region"), entry, home=False)
        elif entry.action == "workspaces.move":
            arrive(str(d["to"]), d.get("to_region"), entry, home=True)
        elif entry.action == "migrations.finish" and d.get("status") == "aborted":
            leave(str(d["to"]), entry)  # an abort cleans the target: the source kept everything
        elif entry.action == "migrations.gc" and str(d.get("outcome", "")).startswith(("deleted", "already_gone")):
            leave(str(d["cell"]), entry)
    ordered = sorted(cells.values(), key=lambda c: (c["arrived_at"], c["cell"]))
    return ordered, pins, violations


def report(workspace_id: str, entries: list[Entry], *, chain: dict[str, Any], current: dict[str, Any] | None,
           regions: dict[str, str], generated_at: datetime, generated_by: str) -> dict[str, Any]:
    """The residency report of a workspace (unsigned). ``regions``: the catalog's cell -> region,
    for entries older than the region fields they now carry."""
    cells, pins, violations = cells_of(entries)
    for cell in cells:
        cell["region"] = cell["region"] or regions.get(cell["cell"])
    return {
        "kind": KIND, "workspace": workspace_id, "generated_at": stamp(generated_at), "generated_by": generated_by,
        "current": current, "cells": cells, "regions": sorted({str(c["region"]) for c in cells if c["region"]}),
        "pins": pins, "violations": violations, "chain": chain,
        "entries": [e.to_json() for e in entries],
    }


# -- signing --------------------------------------------------------------------------------------


def load_private_key(text: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (PKCS#8) or base64 of its 32 raw bytes; ``ValueError`` otherwise."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the signing key is not an Ed25519 key")
        return key
    raw = base64.b64decode(text, validate=True)
    if len(raw) != 32:
        raise ValueError("a raw Ed25519 signing key is 32 bytes (base64)")
    return Ed25519PrivateKey.from_private_bytes(raw)


def load_public_key(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo) or base64 of its 32 raw bytes."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the public key is not an Ed25519 key")
        return key
    raw = base64.b64decode(text, validate=True)
    if len(raw) != 32:
        raise ValueError("a raw Ed25519 public key is 32 bytes (base64)")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_raw(key)).hexdigest()[:16]


def sign(body: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """``{"report": body, "signature": {...}}``: Ed25519 over ``canonical(body)``."""
    public = key.public_key()
    return {"report": body, "signature": {
        "algorithm": "Ed25519", "key_id": key_id(public), "public_key": base64.b64encode(public_raw(public)).decode(),
        "value": base64.b64encode(key.sign(canonical(body))).decode()}}


def verify(document: dict[str, Any], public_key: Ed25519PublicKey) -> list[str]:
    """Every reason the signed report ``document`` is not to be trusted (empty: it verifies).

    Needs nothing but the document and the trusted public key."""
    problems: list[str] = []
    body, signature = document.get("report"), document.get("signature")
    if not isinstance(body, dict) or not isinstance(signature, dict):
        return ["not a signed residency report (report and signature expected)"]
    if body.get("kind") != KIND:
        problems.append(f"unknown report kind {body.get('kind')!r}")
    try:
        public_key.verify(base64.b64decode(str(signature.get("value", "")), validate=True), canonical(body))
    except (InvalidSignature, ValueError):
        problems.append(f"the signature does not verify with key {key_id(public_key)} (altered, or another key)")
    entries: list[Entry] = []
    for item in body.get("entries", []):
        try:
            entry = Entry(seq=item["seq"], at=datetime.fromisoformat(item["at"]), actor=item["actor"],
                          role=item["role"], action=item["action"], target=item["target"],
                          outcome=item["outcome"], reason=item["reason"], details=item["details"],
                          prev_hash=item["prev_hash"], hash=item["hash"])
        except (KeyError, TypeError, ValueError):
            problems.append(f"entry {item.get('seq') if isinstance(item, dict) else item!r} is malformed")
            continue
        fields = {k: getattr(entry, k) for k in ("seq", "at", "actor", "role", "action", "target", "outcome",
                                                  "reason", "details", "prev_hash")}
        if digest(**fields) != entry.hash:
            problems.append(f"audit entry {entry.seq}: its content does not match its hash")
        if entry.target != body.get("workspace"):
            problems.append(f"audit entry {entry.seq} is about {entry.target}, not {body.get('workspace')}")
        entries.append(entry)
    cells, _, violations = cells_of(entries)
    listed = [(c["cell"], c["arrived_at"], c["left_at"]) for c in body.get("cells", [])]
    if listed != [(c["cell"], c["arrived_at"], c["left_at"]) for c in cells]:
        problems.append("the cells listed do not follow from the entries included")
    if body.get("violations") != violations:
        problems.append("the pin violations listed do not follow from the entries included")
    chain = body.get("chain") or {}
    if not chain.get("ok"):
        problems.append(f"the audit chain was broken when the report was made: entry {chain.get('broken_at')}: "
                        f"{chain.get('problem')}")
    return problems
