"""The control plane's OpenAPI document describes its real answers, success and refusal alike.

A workload calls every JSON endpoint of a real control plane (two cells) over HTTP; each answer is
validated (``jsonschema``, Draft 2020-12) against the schema the document gives for that path, verb
and status. A move row is written into the catalog (as the probes test does) so that the
migration endpoints answer with a real one.
"""

from __future__ import annotations

from typing import Any

import jsonschema
from openapi_spec_validator import validate

from control_plane.api.answers import V1
from tests.support.control_plane import OPERATOR, Deployment


def _workload(dep: Deployment) -> list[tuple[str, str, int, dict[str, Any]]]:
    cp = dep.control_plane
    seen: list[tuple[str, str, int, dict[str, Any]]] = []

    def call(verb: str, path: str, template: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = cp.request(verb, path, token=OPERATOR, **({"json": body} if body is not None else {}))
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
    # A failed move in the catalog (what a move that gave up leaves), so the reads show a real one.
    (move,) = cp.query(
        "INSERT INTO moves (workspace_id, source, target, status, phase, requested_by, role, progress, error,"
        " started_at) VALUES (%(w)s, 'us-1', 'eu-1', 'failed', 'replicating', 'sam', 'sre',"
        " '{\"lag_bytes\": 10}', 'replicating: gave up', now()) RETURNING id", {"w": w})
    call("GET", "/v1/migrations", "/v1/migrations")
    call("GET", f"/v1/migrations/{move['id']}", "/v1/migrations/{id}")
    call("GET", "/v1/migrations/drains/us-1", "/v1/migrations/drains/{cell}")
    return seen


def _schema(document: dict[str, Any], path: str, verb: str, status: int) -> dict[str, Any]:
    documented = str(status) if str(status) in document["paths"][path][verb]["responses"] else "default"
    pointer = "/".join(p.replace("~", "~0").replace("/", "~1") for p in (
        "paths", path, verb, "responses", documented, "content", "application/json", "schema"))
    return {**document, "$ref": f"#/{pointer}"}


def test_control_plane_answers_match_its_document(regions: Deployment) -> None:
    """The document is valid OpenAPI 3.1; every JSON operation documents a closed ``ok: true`` shape
    (or one open only where values are free-form); every answer of the workload validates against
    its documented status; and every shaped operation was called."""
    cp = regions.control_plane
    document = cp.http.get(f"{cp.url}/v1/openapi.json").json()
    validate(document)
    seen = _workload(regions)
    problems = {}
    for verb, path, status, body in seen:
        validator = jsonschema.Draft202012Validator(_schema(document, path, verb, status))
        found = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
        if found:
            problems[f"{verb} {path} {status}"] = found
    assert problems == {}
    # The operations this module shapes (control_plane.api.answers.V1); the compliance endpoints
    # (holds, residency, retention, audit collection) are documented with the envelope so far.
    operations = {(verb, path) for path, verb in V1}
    assert operations - {(verb, path) for verb, path, _, _ in seen} == set()
    schemas = document["components"]["schemas"]
    shapeless = [f"{verb} {path}" for verb, path in sorted(operations)
                 if "$ref" not in next(a for s, a in document["paths"][path][verb]["responses"].items()
                                       if s.startswith("2"))["content"]["application/json"]["schema"]]
    assert shapeless == []
    assert all(s.get("additionalProperties") is not None for name, s in schemas.items() if name != "Refusal")
