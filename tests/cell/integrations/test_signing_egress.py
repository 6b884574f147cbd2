"""Signing as Slack signs, and the SSRF guard of outbound HTTP (cell.egress), against real sockets."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import pytest
from slack_sdk.signature import SignatureVerifier

from cell.domain import signing
from cell.egress import Egress, Refused
from cell.settings import EgressSettings

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def test_signature_verifier_accepts_ours_and_rejects_tampering() -> None:
    """slack_sdk's SignatureVerifier accepts our headers, and refuses a changed body, a changed
    signature and a stale (replayed) timestamp."""
    body = b'{"type":"event_callback","event_id":"Ev123"}'
    now = int(time.time())
    headers = signing.headers(SECRET, now, body)
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(body, headers)
    assert not verifier.is_valid_request(body + b" ", headers)
    forged = {**headers, "X-Slack-Signature": "v0=" + "0" * 64}
    assert not verifier.is_valid_request(body, forged)
    stale = signing.headers(SECRET, now - 600, body)
    assert not verifier.is_valid_request(body, stale)
    assert not SignatureVerifier("another-secret").is_valid_request(body, headers)
    # Our own check of what we receive signed refuses the same things.
    assert signing.valid(SECRET, str(now), headers["X-Slack-Signature"], body, now)
    assert not signing.valid(SECRET, str(now - 600), stale["X-Slack-Signature"], body, now)
    assert not signing.valid(SECRET, str(now), forged["X-Slack-Signature"], body, now)


class _Handler(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        _Handler.seen.append((self.path, self.headers.get("host") or ""))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(1_000_000))
            self.end_headers()
            self.wfile.write(b"x" * 1_000_000)
        elif self.path == "/slow":
            time.sleep(3)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")


@pytest.fixture(scope="module")
def target() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _post(egress: Egress, url: str) -> Any:
    async def go() -> Any:
        try:
            return await egress.post(url, b"{}", {"Content-Type": "application/json"})
        finally:
            await egress.close()
    return anyio.run(go)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/", "http://localhost:{port}/", "http://[::1]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/", "http://10.1.2.3:{port}/", "http://169.254.169.254/latest/meta-data",
    "http://192.168.0.1/", "http://0.0.0.0:{port}/", "http://100.64.0.1/",
])
def test_private_loopback_and_link_local_targets_are_refused(target: int, url: str) -> None:
    """Without the operator's leave, no loopback, private, link-local or unspecified target is
    reached (nothing is sent: the address is checked before connecting)."""
    before = len(_Handler.seen)
    with pytest.raises(Refused):
        _post(Egress(EgressSettings()), url.format(port=target))
    assert len(_Handler.seen) == before


@pytest.mark.parametrize("url", ["ftp://example.com/", "http://user:pw@example.com/", "not a url", "http:///x"])
def test_urls_that_are_not_plain_http_are_refused(url: str) -> None:
    with pytest.raises(Refused):
        _post(Egress(EgressSettings()), url)


def test_an_allowed_network_is_reached_with_its_host_name(target: int) -> None:
    """``egress.allowed_networks`` lets loopback through; the request goes to the resolved address
    and keeps the name in its Host header."""
    answer = _post(Egress(EgressSettings(allowed_networks=["127.0.0.0/8"])), f"http://localhost:{target}/hook")
    assert (answer.ok, answer.status, answer.body) == (True, 200, b"ok")
    assert _Handler.seen[-1] == ("/hook", f"localhost:{target}")


def test_redirects_are_not_followed_and_answers_are_capped(target: int) -> None:
    """A 3xx is a failure (``too_many_redirects``) and its Location is never visited; at most
    ``max_response_bytes`` of an answer are read; a late answer is ``http_timeout``."""
    settings = EgressSettings(allowed_networks=["127.0.0.0/8"], max_response_bytes=1000)
    answer = _post(Egress(settings), f"http://127.0.0.1:{target}/redirect")
    assert (answer.ok, answer.failure, answer.status) == (False, "too_many_redirects", 302)
    assert "/elsewhere" not in [path for path, _ in _Handler.seen]
    big = _post(Egress(settings), f"http://127.0.0.1:{target}/big")
    assert big.ok and len(big.body) == 1000
    slow = _post(Egress(settings.model_copy(update={"timeout_seconds": 1.0})), f"http://127.0.0.1:{target}/slow")
    assert (slow.ok, slow.failure) == (False, "http_timeout")
