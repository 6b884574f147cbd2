"""The router serves the web client: the page at /, its assets by version, compressed, cached,
revalidated by ETag, under a strict Content-Security-Policy. A real router on a socket."""

from __future__ import annotations

import gzip
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import brotli
import httpx
import pytest

from router.web import WebFiles
from tests.support.router import running_router


@pytest.fixture(scope="module")
def router() -> Iterator[str]:
    # No control plane is needed to serve the page: the routing sync retries in the background.
    with running_router("http://127.0.0.1:9", Path(tempfile.mkdtemp(prefix="cellchat-router-")) / "routes.json",
                        dev=True) as running:
        yield running.url


def asset_urls(router: str) -> list[str]:
    page = httpx.get(f"{router}/").text
    return [f"{router}{path}" for path in re.findall(r'(?:src|href)="(/assets/[^"]+)"', page)]


def test_the_page_is_served_at_the_root(router: str) -> None:
    """GET / is the HTML page, loading its script as a module from the versioned assets."""
    answer = httpx.get(f"{router}/")
    assert (200, "text/html; charset=utf-8", True) == (
        answer.status_code, answer.headers["content-type"],
        f'<script type="module" src="/assets/{WebFiles().version}/app.js"></script>' in answer.text)


def test_the_csp_allows_no_inline_script_and_no_framing(router: str) -> None:
    """The page's CSP takes scripts from this origin only (no 'unsafe-inline'), and frame-ancestors 'none'."""
    csp = httpx.get(f"{router}/").headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert (["'self'"], ["'none'"], False) == (directives["script-src"], directives["frame-ancestors"],
                                                "unsafe-inline" in csp or "unsafe-eval" in csp)


def test_the_page_is_revalidated_with_its_etag(router: str) -> None:
    """The page is no-cache; asking again with its ETag answers 304 with no body."""
    first = httpx.get(f"{router}/")
    again = httpx.get(f"{router}/", headers={"If-None-Match": first.headers["etag"]})
    assert ("no-cache", 304, b"") == (first.headers["cache-control"], again.status_code, again.content)


def test_assets_are_immutable_under_their_version(router: str) -> None:
    """Every asset the page names is cached for a year as immutable."""
    urls = asset_urls(router)
    caches = {httpx.get(url).headers["cache-control"] for url in urls}
    assert (True, {"public, max-age=31536000, immutable"}) == (len(urls) >= 3, caches)


def test_another_version_is_not_found(router: str) -> None:
    """An asset asked for under a version that is not the current one is a 404."""
    assert 404 == httpx.get(f"{router}/assets/0000000000000000/app.js").status_code


def test_brotli_and_gzip_by_accept_encoding(router: str) -> None:
    """The script comes brotli- or gzip-compressed as the browser accepts, and decodes to the same bytes."""
    url = next(u for u in asset_urls(router) if u.endswith("app.js"))
    plain = httpx.get(url, headers={"Accept-Encoding": "identity"})
    with httpx.Client() as client:  # raw bytes: no automatic decoding
        br = client.send(client.build_request("GET", url, headers={"Accept-Encoding": "br"}), stream=True)
        br_body = b"".join(br.iter_raw())
        gz = client.send(client.build_request("GET", url, headers={"Accept-Encoding": "gzip"}), stream=True)
        gz_body = b"".join(gz.iter_raw())
    assert (None, "br", "gzip", plain.content, plain.content) == (
        plain.headers.get("content-encoding"), br.headers["content-encoding"], gz.headers["content-encoding"],
        brotli.decompress(br_body), gzip.decompress(gz_body))


def test_page_weight_is_under_200_kb_compressed() -> None:
    """All JS and CSS, gzip-compressed, weigh less than 200 KB."""
    assert WebFiles().weight()["gzip"] < 200 * 1024


def test_security_headers_on_assets(router: str) -> None:
    """Assets carry nosniff and no-framing too."""
    answer = httpx.get(asset_urls(router)[0])
    assert ("nosniff", "DENY") == (answer.headers["x-content-type-options"], answer.headers["x-frame-options"])
