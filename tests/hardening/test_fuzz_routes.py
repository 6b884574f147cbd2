"""A fixed set of hostile inputs at every registered route, through the router: never a 5xx, always the envelope.

Deterministic (no hypothesis; ``test_fuzz.py`` does generated bodies): every Slack method of the
cell's registry, every cell ``/v1`` route, the file endpoints, the router's own routes (with
smuggled paths), and every control plane route, each called with NUL bytes, huge strings, wrong
types, bad JSON, non-UTF-8 bytes, negative and huge numbers, bad cursors, encoded slashes and
dot-segments. A refusal is ``ok: false`` with a known Slack error code (Slack API) or
``{ok: false, error, message}`` (control plane); and after each hostile request the same
keep-alive connection still serves another user's request.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest

from cell.api import admin, control, file_routes, methods
from cell.api.registry import METHODS
from cell.errors import SLACK_ERROR_CODES
from control_plane.api import audit, cells, compliance, probes, routes, transfers, workspaces
from control_plane.api import moves as moves_api
from router import metrics
from tests.hardening.conftest import Edge, Made
from tests.support.control_plane import SRE

methods.load()
# auth.revoke refuses nothing it is given: it revokes the caller's token, which later calls need.
SLACK_METHODS = sorted(set(METHODS) - {"auth.revoke"})
CELL_V1 = sorted({(verb, route.path) for route in admin.routes + control.routes
                  for verb in route.methods or () if verb != "HEAD" and route.path != "/v1/openapi.json"})
FILE_ROUTES = sorted({(verb, route.path) for route in file_routes.routes for verb in route.methods or () if verb != "HEAD"})
CONTROL_PLANE = sorted({(verb, route.path) for module_routes in (cells.routes, workspaces.routes, routes.routes_,
                                                                  audit.routes, moves_api.routes, compliance.routes,
                                                                  transfers.routes, probes.routes)
                        for route in module_routes for verb in route.methods or () if verb != "HEAD"})
ROUTER_OWN = ["/_router/health", "/_router/routes/{workspace_id}", *(route.path for route in metrics.routes)]

_CURSORS = ["!!!", "\x00", base64.urlsafe_b64encode(b"history:\xc2\xb2").decode(), "a" * 5000,
            base64.urlsafe_b64encode(b"\xff\xfe:-1").decode()]
_FIELDS = ["channel", "text", "ts", "thread_ts", "cursor", "limit", "latest", "oldest", "name", "user", "users",
           "blocks", "attachments", "topic", "purpose", "email", "file", "count", "timeout", "pos", "types"]
# A path segment that must never be taken for a route: NULs, encoded slashes, dot-segments, non-UTF-8, huge.
SEGMENTS = ["%00", "a%00b", "..%2F..%2Fv1%2Fhealth", "%2e%2e", "..", "%2F", "%ff%fe", "x" * 3000, "-1"]


def _form(fields: dict[str, str]) -> bytes:
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in fields.items()).encode()


# Bodies no method may accept, whichever fields it takes: unreadable, or NULs everywhere.
STRICT = {"nul-form", "nul-json", "bad-json", "non-utf8-form", "non-utf8-json", "no-boundary"}


def hostile_bodies(channel: str) -> list[tuple[str, str, bytes]]:
    """``(label, content type, body)``: the fixed hostile inputs of a Slack method."""
    return [
        ("nul-form", "application/x-www-form-urlencoded", _form({f: "a\x00b" for f in _FIELDS} | {"channel": channel})),
        ("nul-json", "application/json", orjson.dumps({f: "\x00" for f in _FIELDS})),
        ("wrong-types", "application/json", orjson.dumps({f: [{"x": [1]}] for f in _FIELDS} | {"limit": "abc"})),
        ("bad-json", "application/json", b'{"channel": "' + channel.encode() + b'", "text": '),
        ("non-utf8-form", "application/x-www-form-urlencoded", b"channel=" + channel.encode() + b"&text=%ff%fe&name=\xff"),
        ("non-utf8-json", "application/json", b'{"channel": "\xff\xfe", "text": "\xc3"}'),
        ("huge", "application/x-www-form-urlencoded", _form({f: "x" * 60_000 for f in ("text", "name", "channel")})),
        ("numbers", "application/x-www-form-urlencoded", _form({"channel": channel, "limit": "-1", "count": "²",
                                                                 "latest": "1e400", "oldest": "nan", "ts": "-inf",
                                                                 "timeout": "nan", "pos": "\u0661"})),
        ("huge-numbers", "application/json", json.dumps({"channel": channel, "limit": 10**30, "ts": -1e300,
                                                         "count": -(10**30), "oldest": 1e308}).encode()),
        ("cursors", "application/x-www-form-urlencoded", _form({"channel": channel, "cursor": _CURSORS[2]})),
        ("nul-cursor", "application/json", orjson.dumps({"channel": channel, "cursor": _CURSORS[1]})),
        ("no-boundary", "multipart/form-data", b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--x--\r\n"),
    ]


def _slack_refusal(response: httpx.Response, what: str, *, strict: bool) -> dict[str, Any]:
    assert response.status_code < 500, (what, response.status_code, response.text[:300])
    assert response.headers.get("content-type", "").startswith("application/json"), (what, response.text[:300])
    answer: dict[str, Any] = orjson.loads(response.content)
    if answer.get("ok") is True and not strict:
        return answer  # a method that takes none of the hostile fields may well answer
    assert answer.get("ok") is False, (what, answer)
    assert answer.get("error") in SLACK_ERROR_CODES, (what, answer)
    return answer


def _plane_refusal(response: httpx.Response, what: str) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:300])
    if response.is_success and not response.headers.get("content-type", "").startswith("application/json"):
        return  # an answer that is not a refusal (metrics, a stream) is in its own format
    assert response.headers.get("content-type", "").startswith("application/json"), (what, response.text[:300])
    answer = orjson.loads(response.content)
    assert isinstance(answer, dict), (what, answer)
    if answer.get("ok") is not True:
        assert answer.get("ok") is False and isinstance(answer.get("error"), str) \
            and isinstance(answer.get("message"), str), (what, answer)


@pytest.fixture(scope="module")
def one_connection(edge: Edge) -> Iterator[httpx.Client]:
    """One keep-alive connection to the router: a hostile request and the next user's share it."""
    with httpx.Client(timeout=30.0, limits=httpx.Limits(max_connections=1, max_keepalive_connections=1)) as client:
        yield client


@pytest.fixture(scope="module")
def attacker(edge: Edge) -> Made:
    return edge.workspace()


@pytest.fixture(scope="module")
def bystander(edge: Edge) -> Made:
    return edge.workspace()


def _next_user_is_served(edge: Edge, client: httpx.Client, bystander: Made, after: str) -> None:
    answer = client.post(f"{edge.router.url}/api/auth.test", headers={"Authorization": f"Bearer {bystander.token}"})
    assert 200 == answer.status_code and answer.json()["ok"] is True, (after, answer.status_code, answer.text[:300])


def test_every_slack_method_refuses_hostile_bodies(edge: Edge, one_connection: httpx.Client, attacker: Made,
                                                   bystander: Made) -> None:
    """Every registered method, every hostile body, as the attacker: a Slack refusal; the bystander is served after."""
    bodies = hostile_bodies(attacker.general)
    for method in SLACK_METHODS:
        for label, content_type, body in bodies:
            what = f"{method} {label}"
            response = one_connection.post(f"{edge.router.url}/api/{method}", content=body, headers={
                "Authorization": f"Bearer {attacker.token}", "Content-Type": content_type})
            _slack_refusal(response, what, strict=label in STRICT)
            _next_user_is_served(edge, one_connection, bystander, what)


def test_cell_v1_and_file_routes_refuse_hostile_paths(edge: Edge, one_connection: httpx.Client, attacker: Made,
                                                      bystander: Made) -> None:
    """Every cell ``/v1`` route and file endpoint with hostile path segments, queries and bodies: below 500, JSON."""
    for verb, template in CELL_V1 + FILE_ROUTES:
        for segment in SEGMENTS:
            segment_used = "{" in template.replace("{workspace_id}", "")
            if not segment_used and segment != SEGMENTS[0]:
                continue
            path = template.replace("{workspace_id}", attacker.id)
            path = re.sub(r"\{ref\}", f"{attacker.id}-{segment}", path)
            path = re.sub(r"\{[a-z_]+(:path)?\}", segment, path)
            query = "exp=-1&sig=%ff%00&cursor=%00&limit=99999999999999999999"
            what = f"{verb} {path[:120]}"
            response = one_connection.request(verb, f"{edge.router.url}{path}?{query}", content=b'{"a": "\x00', headers={
                "Authorization": f"Bearer {attacker.token}", "Content-Type": "application/json"})
            assert response.status_code < 500, (what, response.status_code, response.text[:300])
            assert response.headers.get("content-type", "").startswith("application/json"), (what, response.text[:300])
            if segment_used:  # a path of the attacker's own workspace alone may be answered
                assert orjson.loads(response.content).get("ok") is False, (what, response.text[:300])
            _next_user_is_served(edge, one_connection, bystander, what)


SMUGGLED = ["/api/..%2F..%2Frtm%2Fpoll", "/api/%2e%2e/v1/health", "/api/auth.test%00", "/api/%ff",
            "/v1/%2e%2e/api/auth.test", "/v1/..%2Fhealth", "/files-pri/..%2F..%2Fv1%2Fhealth/x",
            "/files-tmb/%2e%2e/%2e%2e", "/upload/v1/..%2F..%2Fapi%2Fauth.test", "/api/" + "x" * 5000,
            "/services/%00/%2F/..", "/_router/..%2Fhealth", "/_router/routes/%00"]


def test_router_routes_and_smuggled_paths(edge: Edge, one_connection: httpx.Client, attacker: Made,
                                          bystander: Made) -> None:
    """The router's own routes with hostile segments, and smuggled paths: JSON below 500, never a forward."""
    own = [template.replace("{workspace_id}", segment) for template in ROUTER_OWN for segment in SEGMENTS]
    for path in own + SMUGGLED:
        for verb in ("GET", "POST"):
            response = one_connection.request(verb, f"{edge.router.url}{path}", content=b"\xff\x00",
                                              headers={"Authorization": f"Bearer {attacker.token}"})
            what = f"{verb} {path[:120]}"
            assert response.status_code < 500, (what, response.status_code, response.text[:300])
            if path in SMUGGLED or path.startswith("/_router/routes/"):
                assert response.headers.get("content-type", "").startswith("application/json"), (what, response.text)
                assert orjson.loads(response.content).get("ok") is False, (what, response.text[:300])
            _next_user_is_served(edge, one_connection, bystander, what)


def test_every_control_plane_route_refuses_hostile_input(edge: Edge) -> None:
    """Every control plane route, as an SRE, with hostile segments, queries and bodies: its envelope, below 500."""
    cp = edge.deployment.control_plane
    before = cp.catalog()
    bodies = [b'{"name": "\x00', json.dumps({"name": "a\x00", "region": ["x"], "cell": 10**30, "pin": "nan"}).encode(),
              b"\xff\xfe", orjson.dumps([1, 2])]
    with httpx.Client(timeout=30.0, limits=httpx.Limits(max_connections=1)) as client:
        for verb, template in CONTROL_PLANE:
            for segment in SEGMENTS:
                path = re.sub(r"\{[a-z_]+(:[a-z]+)?\}", segment, template)
                query = "limit=-1&cursor=%00&since=nan&after=99999999999999999999&x=%ff"
                for body in bodies if verb in ("POST", "PUT", "PATCH") else [b""]:
                    response = client.request(verb, f"{cp.url}{path}?{query}", content=body, headers={
                        "Authorization": f"Bearer {SRE}", "Content-Type": "application/json"})
                    _plane_refusal(response, f"{verb} {path[:120]} {body[:40]!r}")
                    health = client.get(f"{cp.url}/v1/health")
                    assert health.status_code == 200, (verb, path[:120], health.text)
    assert before == cp.catalog()
