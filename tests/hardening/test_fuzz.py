"""Generated bodies at every Slack method and every ``/v1`` endpoint, through the router: never a 5xx, always the envelope.

Bodies are JSON, form or multipart (or the query string), with any unicode (NUL and lone
surrogates included), numbers that are not numbers, and any nesting. Whatever comes in,
the answer is JSON in the surface's envelope with a status below 500, and an answer that
says ``ok: false`` changed nothing in the cell's database.

The budget is bounded (a few hundred examples per surface); in CI the examples are
derandomised, so a run is reproducible and a failure is the same failure every time.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cell.api import admin, control, methods
from cell.api.registry import METHODS
from tests.hardening.conftest import Edge, Made
from tests.support.control_plane import VIEWER

methods.load()
# auth.revoke with any body revokes the caller's token, which every later example needs.
SLACK_METHODS = sorted(set(METHODS) - {"auth.revoke"})
CELL_V1 = [(method, route.path) for route in admin.routes + control.routes
           for method in sorted(route.methods or ()) if method != "HEAD" and route.path != "/v1/openapi.json"]
FIELDS = ["channel", "text", "ts", "thread_ts", "cursor", "limit", "latest", "oldest", "blocks", "attachments",
          "name", "users", "user", "timestamp", "client_msg_id", "topic", "purpose", "types", "inclusive",
          "reply_broadcast", "presence", "email", "password", "workspace_id", "owner", "admin", "token",
          "is_private", "exclude_archived", "pos", "timeout", "region_pin", "cell", "full", "count"]

# The cell and router under test run in this process's threads, and their retry jitter uses the
# global `random`; hypothesis sees the global state move during a draw and takes it for the
# strategy's (a false alarm that depends on timing). Our strategies draw nothing from `random`.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning")

FUZZ = settings(max_examples=int(os.environ.get("CELLCHAT_FUZZ_EXAMPLES", "120")), deadline=None,
                derandomize=os.environ.get("CI") == "true", database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=30)
nasty_text = st.sampled_from([
    "\x00", "a\x00b", "\ud800", "x\udfff", "²", "١٢٣", "1e400", "nan", "NaN", "inf", "-1", "0", "99999999999999999999",
    "1700000000.000100", "1700000000.0001²", "\u200bgeneral", "general\u202e", "\ufeff", "\u2028", "\ue000",
    "[" * 3000 + "]" * 3000, '{"a":' * 2000 + "1" + "}" * 2000, "[]", "{}", "true", "null", " ", "",
])
scalars = st.one_of(any_text, nasty_text, st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.booleans(), st.none())
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(any_text, inner, max_size=4)),
                      max_leaves=12)
keys = st.one_of(st.sampled_from(FIELDS), any_text)
params = st.dictionaries(keys, values, max_size=6)


def _deep(depth: int) -> bytes:
    return b'{"blocks":' + b"[" * depth + b"]" * depth + b"}"


def _flat(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)  # ensure_ascii: lone surrogates become \ud800 escapes, as a real client sends them


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


@st.composite
def bodies(draw: st.DrawFn, real: dict[str, str]) -> tuple[str, bytes, bytes]:
    """``(content type, query string, body)``: one generated request."""
    fields = draw(params)
    for name, value in real.items():  # sometimes a real id, so the methods get past "not found"
        if draw(st.booleans()):
            fields[name] = value
    kind = draw(st.sampled_from(["json", "form", "multipart", "query", "deep", "raw", "no-boundary", "many-parts"]))
    form = "&".join(f"{quote(_bytes(k))}={quote(_bytes(_flat(v)))}" for k, v in fields.items())
    if kind == "json":
        return "application/json", b"", _bytes(json.dumps(fields))
    if kind == "form":
        return "application/x-www-form-urlencoded", b"", form.encode()
    if kind == "query":
        return "application/x-www-form-urlencoded", form.encode(), b""
    if kind == "deep":
        return "application/json", b"", _deep(draw(st.integers(1, 5000)))
    if kind == "raw":
        return draw(st.sampled_from(["application/json", "text/plain", "", "multipart/form-data"])), b"", draw(
            st.binary(max_size=200))
    if kind == "no-boundary":
        return "multipart/form-data", b"", b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--x--\r\n"
    if kind == "many-parts":
        parts = b"".join(b'--B\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i for i in range(5000))
        return "multipart/form-data; boundary=B", b"", parts + b"--B--\r\n"
    parts = b"".join(b'--B\r\nContent-Disposition: form-data; name="' + _bytes(k).replace(b'"', b"") + b'"\r\n\r\n'
                     + _bytes(_flat(v)) + b"\r\n" for k, v in fields.items())
    return "multipart/form-data; boundary=B", b"", parts + b"--B--\r\n"


def _check(edge: Edge, response: httpx.Response, before: dict[str, str]) -> dict[str, Any]:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.text[:300]
    answer = orjson.loads(response.content)
    assert isinstance(answer, dict) and isinstance(answer.get("ok"), bool), answer
    if not answer["ok"]:
        assert before == edge.fingerprint(), answer
    return answer


def _send(edge: Edge, method: str, path: str, token: str | None, body: tuple[str, bytes, bytes]) -> httpx.Response:
    content_type, query, content = body
    headers = {"Content-Type": content_type} if content_type else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = httpx.URL(edge.router.url + path)
    if query:
        url = url.copy_with(query=query)
    return edge.http.request(method, url, headers=headers, content=content)


_fuzzed: dict[str, Made] = {}


def _workspace(edge: Edge) -> Made:
    if "made" not in _fuzzed:
        _fuzzed["made"] = edge.workspace()
    return _fuzzed["made"]


@FUZZ
@given(method=st.sampled_from(SLACK_METHODS), with_token=st.booleans(), data=st.data())
def test_slack_methods_answer_any_body_in_the_envelope(edge: Edge, method: str, with_token: bool,
                                                       data: st.DataObject) -> None:
    """Any body at any Slack method: a Slack answer (status < 500, ``{"ok": ...}`` JSON); a refusal changes nothing."""
    made = _workspace(edge)
    body = data.draw(bodies({"channel": made.general, "users": made.id}))
    before = edge.fingerprint()
    _check(edge, _send(edge, "POST", f"/api/{method}", made.token if with_token else None, body), before)


@FUZZ
@given(route=st.sampled_from(CELL_V1), segment=st.one_of(any_text, nasty_text), data=st.data())
def test_v1_endpoints_answer_any_body_in_the_envelope(edge: Edge, route: tuple[str, str], segment: str,
                                                      data: st.DataObject) -> None:
    """Any body at any cell ``/v1`` endpoint, through the router, with the workspace's path or a generated one."""
    made = _workspace(edge)
    method, template = route
    path = re.sub(r"\{workspace_id\}", made.id, template)
    path = re.sub(r"\{[a-z_]+\}", quote(_bytes(segment), safe="") or "x", path)
    body = data.draw(bodies({"workspace_id": made.id, "email": made.email}))
    before = edge.fingerprint()
    _check(edge, _send(edge, method, path, made.token, body), before)


@FUZZ
@given(segment=st.one_of(any_text, nasty_text),
       query=st.dictionaries(keys, st.one_of(any_text, st.sampled_from(["\x00", "\ud800", "²", "nan", "-1"])),
                             max_size=6))
def test_control_plane_answers_any_path_in_its_envelope(edge: Edge, segment: str, query: dict[str, Any]) -> None:
    """The control plane answers generated path segments and queries (NULs included) with JSON below 500."""
    cp = edge.deployment.control_plane
    before = cp.catalog()
    escaped = quote(_bytes(segment), safe="") or "x"
    encoded = "&".join(f"{quote(_bytes(k))}={quote(_bytes(_flat(v)))}" for k, v in query.items())
    for template in ("/v1/cells/{}", "/v1/workspaces/{}", "/v1/routes/{}", "/v1/migrations/drains/{}",
                     "/v1/audit?{}", "/v1/routes/changes?{}", "/v1/migrations/{}"):
        url = cp.url + template.format(escaped if "?" not in template else encoded + "&x=" + escaped)
        response = cp.http.get(url, headers={"Authorization": f"Bearer {VIEWER}"})
        assert response.status_code < 500, (url, response.status_code, response.text[:300])
        assert isinstance(orjson.loads(response.content).get("ok"), bool), response.text[:300]
    assert before == cp.catalog()
