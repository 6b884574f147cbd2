"""The control plane's OpenAPI document describes its real answers, success and refusal alike.

A workload calls every ``/v1`` endpoint of a real control plane (two cells with workers, a
residency signing key) over HTTP: cells, workspaces, routes, audit, migrations, holds, retention,
residency, exports (to a finished archive) and an import of a Slack export made in the test. Each
JSON answer is validated (``jsonschema``, Draft 2020-12) against the schema the document gives
for that path, verb and status; each line of the NDJSON streams against the line's schema; the
archive's media type against the documented one. A move row is written into the catalog (as the
probes test does) so that the migration endpoints answer with a real one.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from openapi_spec_validator import validate

from cli.slack_archive import Archive
from control_plane.api.app import ANSWERS
from control_plane.api.compliance_answers import STREAMS
from tests.support import slack_export
from tests.support.control_plane import OPERATOR, Deployment, deployment
from tests.support.infra import Infra

KEY = base64.b64encode(Ed25519PrivateKey.generate().private_bytes(
    serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())).decode()
Call = Callable[..., dict[str, Any]]
Seen = list[tuple[str, str, int, Any]]


@pytest.fixture
def dep(infra: Infra) -> Iterator[Deployment]:
    """Two cells whose workers run exports; a control plane that signs residency reports."""
    with deployment(infra, {"us-1": "us", "eu-1": "eu"}, cell_role="all",
                    compliance={"signing_key": KEY, "collect_seconds": 3600}) as running:
        yield running


def _workload(dep: Deployment, tmp: Path) -> Seen:
    cp = dep.control_plane
    seen: Seen = []

    def call(verb: str, path: str, template: str, body: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        answer = cp.request(verb, path, token=OPERATOR, **({"json": body} if body is not None else {}), **kwargs)
        data: dict[str, Any] = answer.json()
        seen.append((verb.lower(), template, answer.status_code, data))
        return data

    call("GET", "/v1/health", "/v1/health")
    call("GET", "/v1/whoami", "/v1/whoami")
    call("GET", "/v1/cells", "/v1/cells")
    call("GET", "/v1/cells/us-1", "/v1/cells/{name}")
    call("GET", "/v1/cells/nope", "/v1/cells/{name}")
    call("POST", "/v1/cells/apply", "/v1/cells/apply", {"yaml": dep.yaml(), "dry_run": True})
    call("POST", "/v1/cells/apply", "/v1/cells/apply", {"yaml": dep.yaml(**{"eu-1": 50})})
    call("POST", "/v1/cells/apply", "/v1/cells/apply", {"yaml": "cells: [1"})
    call("POST", "/v1/cells/us-1/provision", "/v1/cells/{name}/provision", {"dry_run": True})
    call("POST", "/v1/cells/us-1/provision", "/v1/cells/{name}/provision", {"wait": True})
    call("POST", "/v1/cells/us-1/drain", "/v1/cells/{name}/drain", {"dry_run": True})
    call("POST", "/v1/cells/us-1/undrain", "/v1/cells/{name}/undrain", {})
    call("POST", "/v1/cells/us-1/decommission", "/v1/cells/{name}/decommission", {"dry_run": True})
    made = call("POST", "/v1/workspaces", "/v1/workspaces", {"name": "acme", "region": "us", "owner": {
        "email": "owner@acme.example.com", "name": "owner", "password": "correct horse battery staple"}})
    call("POST", "/v1/workspaces", "/v1/workspaces", {"name": "x", "region": "mars", "owner": {
        "email": "o@x.example.com", "name": "o", "password": "correct horse battery staple"}})
    w = made["workspace"]["id"]
    call("POST", "/v1/cells/us-1/decommission", "/v1/cells/{name}/decommission", {"dry_run": True})
    call("GET", "/v1/workspaces", "/v1/workspaces")
    call("GET", f"/v1/workspaces/{w}", "/v1/workspaces/{workspace_id}")
    call("POST", f"/v1/workspaces/{w}/pin", "/v1/workspaces/{workspace_id}/pin", {"region": "us", "reason": "gdpr"})
    call("POST", f"/v1/workspaces/{w}/unpin", "/v1/workspaces/{workspace_id}/unpin", {"reason": "done"})
    call("GET", "/v1/routes", "/v1/routes")
    call("GET", "/v1/routes/changes?since=0", "/v1/routes/changes")
    call("GET", f"/v1/routes/{w}", "/v1/routes/{workspace_id}")
    call("GET", "/v1/audit?limit=5", "/v1/audit")
    call("GET", "/v1/audit/verify", "/v1/audit/verify")
    call("POST", "/v1/migrations", "/v1/migrations", {"workspace": w, "to": "eu-1", "dry_run": True})
    call("POST", "/v1/migrations/drain", "/v1/migrations/drain", {"cell": "us-1", "dry_run": True})
    call("POST", "/v1/migrations/gc", "/v1/migrations/gc", {"dry_run": True})
    call("POST", "/v1/migrations/999/abort", "/v1/migrations/{id}/abort", {})
    call("POST", "/v1/migrations/999/resume", "/v1/migrations/{id}/resume", {})
    cp.ok("POST", "/v1/cells/apply", json={"yaml": dep.yaml(databases=True)})  # moves can be planned now
    call("POST", "/v1/migrations", "/v1/migrations", {"workspace": w, "to": "eu-1", "dry_run": True})
    call("POST", "/v1/migrations/drain", "/v1/migrations/drain", {"cell": "eu-1", "dry_run": True})
    cp.ok("POST", "/v1/cells/apply", json={"yaml": dep.yaml()})
    # A failed move in the catalog (what a move that gave up leaves), so the reads show a real one.
    (move,) = cp.query(
        "INSERT INTO moves (workspace_id, source, target, status, phase, requested_by, role, progress, error,"
        " started_at) VALUES (%(w)s, 'us-1', 'eu-1', 'failed', 'replicating', 'sam', 'sre',"
        " '{\"lag_bytes\": 10}', 'replicating: gave up', now()) RETURNING id", {"w": w})
    call("GET", "/v1/migrations", "/v1/migrations")
    call("GET", f"/v1/migrations/{move['id']}", "/v1/migrations/{id}")
    call("GET", "/v1/migrations/drains/us-1", "/v1/migrations/drains/{cell}")
    other = cp.create_workspace("us", name="beta")["workspace"]["id"]  # a move waiting its turn: aborted at once
    (queued,) = cp.query("INSERT INTO moves (workspace_id, source, target, status, phase, requested_by, role)"
                         " VALUES (%(w)s, 'us-1', 'eu-1', 'queued', 'planned', 'sam', 'sre') RETURNING id",
                         {"w": other})
    call("POST", f"/v1/migrations/{queued['id']}/abort", "/v1/migrations/{id}/abort", {"reason": "not now"})
    _compliance(dep, call, w, made["owner"]["id"])
    _exports(dep, call, seen, w)
    _imports(call, tmp)
    _streams(dep, seen)
    # Last, as it starts the failed move again (it waits, without the cells' databases, until the
    # control plane stops at the end of the test).
    call("POST", f"/v1/migrations/{move['id']}/resume", "/v1/migrations/{id}/resume", {"reason": "retry"})
    return seen


def _compliance(dep: Deployment, call: Call, w: str, owner: str) -> None:
    holds = f"/v1/workspaces/{w}/holds"
    held = call("POST", holds, "/v1/workspaces/{workspace_id}/holds",
                {"name": "case 7", "users": [owner], "reason": "litigation"})
    call("POST", holds, "/v1/workspaces/{workspace_id}/holds", {"name": "nobody", "reason": "x"})
    call("POST", holds, "/v1/workspaces/{workspace_id}/holds", {"name": "who", "users": ["UNOBODY01"], "reason": "x"})
    call("GET", holds, "/v1/workspaces/{workspace_id}/holds")
    call("POST", f"{holds}/{held['hold']['id']}/release", "/v1/workspaces/{workspace_id}/holds/{hold_id}/release",
         {"reason": "settled"})
    call("POST", f"{holds}/HNOSUCH0001/release", "/v1/workspaces/{workspace_id}/holds/{hold_id}/release",
         {"reason": "settled"})
    call("GET", f"{holds}?all=true", "/v1/workspaces/{workspace_id}/holds")
    retention = f"/v1/workspaces/{w}/retention"
    call("PUT", retention, "/v1/workspaces/{workspace_id}/retention", {"scope": "workspace", "keep_days": 90,
                                                                         "reason": "policy 12"})
    call("PUT", retention, "/v1/workspaces/{workspace_id}/retention", {"scope": "dms", "keep_days": None,
                                                                         "reason": "policy 12"})
    call("PUT", retention, "/v1/workspaces/{workspace_id}/retention", {"scope": "galaxy", "keep_days": 1})
    call("GET", retention, "/v1/workspaces/{workspace_id}/retention")
    call("POST", f"{retention}/remove", "/v1/workspaces/{workspace_id}/retention/remove",
         {"scope": "dms", "reason": "policy 13"})
    call("GET", f"/v1/workspaces/{w}/residency", "/v1/workspaces/{workspace_id}/residency")
    call("GET", f"/v1/workspaces/{w}/residency?signed=true", "/v1/workspaces/{workspace_id}/residency")
    call("GET", "/v1/workspaces/TNOSUCH0001/residency", "/v1/workspaces/{workspace_id}/residency")
    call("GET", "/v1/audit/public-key", "/v1/audit/public-key")
    call("POST", "/v1/audit/collect", "/v1/audit/collect", {})


def _exports(dep: Deployment, call: Call, seen: Seen, w: str) -> None:
    exports = f"/v1/workspaces/{w}/exports"
    job = call("POST", exports, "/v1/workspaces/{workspace_id}/exports", {"reason": "audit 2026"})
    shown = f"{exports}/{job['export']['id']}"
    deadline = time.monotonic() + 60
    while call("GET", shown, "/v1/workspaces/{workspace_id}/exports/{export_id}")["export"]["state"] != "complete":
        assert time.monotonic() < deadline, "the export did not finish within a minute"
        time.sleep(0.2)
    linked = call("GET", f"{shown}?link_seconds=60", "/v1/workspaces/{workspace_id}/exports/{export_id}")
    call("GET", f"{shown}?link_seconds=0", "/v1/workspaces/{workspace_id}/exports/{export_id}")
    archive = dep.control_plane.http.get(linked["download"]["url"])
    seen.append(("get", "/v1/workspaces/{workspace_id}/exports/{export_id}/archive", archive.status_code,
                 archive.headers["content-type"]))
    forged = dep.control_plane.http.get(linked["download"]["url"].replace("sig=", "sig=0"))
    seen.append(("get", "/v1/workspaces/{workspace_id}/exports/{export_id}/archive", forged.status_code,
                 forged.json()))


def _imports(call: Call, tmp: Path) -> None:
    """An import of a small Slack export, batch by batch, as ``cellctl workspaces import`` sends it."""
    made = slack_export.make(tmp / "export.zip", per_channel=3, days=1, files=1)
    digest = slack_export.sha256(made.path.read_bytes())
    started = call("POST", "/v1/imports", "/v1/imports", {"name": "imported", "region": "eu",
                                                          "source_sha256": digest})
    call("POST", "/v1/imports", "/v1/imports", {"name": "imported", "region": "eu", "source_sha256": "f00"})
    w = started["workspace"]
    batch = "/v1/imports/{workspace_id}/{kind}"
    with Archive(made.path, max_bytes=10**8) as source:
        call("POST", f"/v1/imports/{w}/users", batch, {"users": source.user_batch().items})
        call("POST", f"/v1/imports/{w}/conversations", batch, {"conversations": source.conversation_batch().items})
        call("POST", f"/v1/imports/{w}/planets", batch, {"planets": []})
        records = []
        for file_id in sorted(source.files):
            member = source.upload_of(file_id)
            assert member is not None
            sha256, size = source.file_content(member)
            with source.open(member) as stream:
                content = stream.read()
            call("PUT", f"/v1/imports/{w}/objects/sha256/{sha256}", "/v1/imports/{workspace_id}/objects/sha256/{sha256}",
                 content=content)
            records.append(source.file_record(file_id, sha256, size, member))
        call("PUT", f"/v1/imports/{w}/objects/sha256/not-hex", "/v1/imports/{workspace_id}/objects/sha256/{sha256}",
             content=b"x")
        call("POST", f"/v1/imports/{w}/files", batch, {"files": records})
        for chunk in source.message_batches(max_items=500, max_bytes=1 << 20):
            call("POST", f"/v1/imports/{w}/messages", batch, {"messages": chunk.items})
        call("POST", f"/v1/imports/{w}/finish", "/v1/imports/{workspace_id}/finish", {"owner": source.owner()})


def _streams(dep: Deployment, seen: Seen) -> None:
    """The NDJSON streams: every line of the audit export; the first line of the routing watch."""
    cp = dep.control_plane
    headers = {"Authorization": f"Bearer {OPERATOR}"}
    exported = cp.http.get(f"{cp.url}/v1/audit/export", headers=headers)
    seen.append(("get", "/v1/audit/export", exported.status_code, exported.headers["content-type"]))
    for line in exported.text.splitlines():
        seen.append(("get", "/v1/audit/export", exported.status_code, json.loads(line)))
    with cp.http.stream("GET", f"{cp.url}/v1/routes/watch?since=0", headers=headers) as watched:
        seen.append(("get", "/v1/routes/watch", watched.status_code, watched.headers["content-type"]))
        seen.append(("get", "/v1/routes/watch", watched.status_code, json.loads(next(watched.iter_lines()))))


def _content(document: dict[str, Any], path: str, verb: str, status: int) -> tuple[str, dict[str, Any]]:
    """The documented media type and schema of an answer with that status."""
    documented = str(status) if str(status) in document["paths"][path][verb]["responses"] else "default"
    ((media_type, _),) = document["paths"][path][verb]["responses"][documented]["content"].items()
    pointer = "/".join(p.replace("~", "~0").replace("/", "~1") for p in (
        "paths", path, verb, "responses", documented, "content", media_type, "schema"))
    return media_type, {**document, "$ref": f"#/{pointer}"}


def test_control_plane_answers_match_its_document(dep: Deployment, tmp_path: Path) -> None:
    """The document is valid OpenAPI 3.1; every ``/v1`` operation documents a closed ``ok: true``
    shape (or one open only where values are free-form), an NDJSON line shape or a binary archive;
    every answer of the workload validates against its documented status (a streamed one: its
    media type, and each line); every operation answered a success at least once."""
    cp = dep.control_plane
    document = cp.http.get(f"{cp.url}/v1/openapi.json").json()
    validate(document)
    seen = _workload(dep, tmp_path)
    problems = {}
    for verb, path, status, body in seen:
        media_type, schema = _content(document, path, verb, status)
        if isinstance(body, str):  # a streamed answer's content type
            found = [] if body.split(";")[0] == media_type else [f"content-type {body}, documented {media_type}"]
        else:
            validator = jsonschema.Draft202012Validator(schema)
            found = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
        if found:
            problems[f"{verb} {path} {status}"] = found
    assert problems == {}
    operations = {(verb, path) for path, verbs in document["paths"].items() for verb in verbs}
    assert operations == {(verb, path) for path, verb in [*ANSWERS, *STREAMS]}
    assert operations - {(verb, path) for verb, path, status, _ in seen if status < 300} == set()
    schemas = document["components"]["schemas"]
    shapeless = []
    for verb, path in sorted(operations):
        for status, answer in document["paths"][path][verb]["responses"].items():
            json_answer = answer["content"].get("application/json")
            if status.startswith("2") and json_answer is not None and "$ref" not in json_answer["schema"]:
                shapeless.append(f"{verb} {path} {status}")
    assert shapeless == []
    assert all(s.get("additionalProperties") is not None for name, s in schemas.items()
               if name not in ("Refusal", "Unmapped"))
