"""The web client's static files, served by the router (docs/web.md).

Everything under ``router/web/`` is read once at start, compressed once (brotli and gzip) and
served from memory with a strong ``ETag``. Assets live under ``/assets/<version>/`` where the
version is a digest of all the files: they are cached for a year as immutable, and a new
release changes every asset URL at once (ES module imports are relative, so they follow).
``/`` is the page itself, ``no-cache`` (always revalidated: 304 when unchanged), with the
asset version written into it. Every answer carries the security headers; the page's
Content-Security-Policy allows scripts and styles from this origin only (no inline script),
and no framing.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

import brotli
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ROOT = Path(__file__).parent / "web"
VERSION_MARK = "__ASSET_VERSION__"

# connect-src: the API is this origin; the socket is the cell's gateway (its address comes from
# rtm.connect, so any ws/wss host). img-src: thumbnails through this origin, blob: for previews of
# files not yet uploaded.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
       "font-src 'self'; connect-src 'self' ws: wss:; manifest-src 'self'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'; object-src 'none'")
SECURITY = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
COMPRESSIBLE = (".js", ".css", ".html", ".svg", ".json", ".txt", ".map")


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzip: bytes | None
    br: bytes | None
    media_type: str
    etag: str
    cache: str


def _asset(body: bytes, name: str, cache: str) -> Asset:
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if name.endswith(".js"):
        media_type = "text/javascript"
    if media_type.startswith("text/") or media_type.endswith(("javascript", "json", "svg+xml")):
        media_type += "; charset=utf-8"
    squeeze = name.endswith(COMPRESSIBLE) and len(body) > 256
    return Asset(body, gzip.compress(body, 9, mtime=0) if squeeze else None,
                 brotli.compress(body, quality=11) if squeeze else None, media_type,
                 '"' + hashlib.sha256(body).hexdigest()[:32] + '"', cache)


class WebFiles:
    """The page and its assets, loaded from ``root`` once."""

    def __init__(self, root: Path = ROOT) -> None:
        files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
        digest = hashlib.sha256()
        raw: dict[str, bytes] = {}
        for path in files:
            rel = path.relative_to(root).as_posix()
            raw[rel] = path.read_bytes()
            digest.update(rel.encode() + b"\0" + raw[rel] + b"\0")
        self.version = digest.hexdigest()[:16]
        page = raw.pop("index.html", b"<!doctype html><title>Cellchat</title>")
        self.page = _asset(page.replace(VERSION_MARK.encode(), self.version.encode()), "index.html", REVALIDATE)
        self.assets = {rel: _asset(body, rel, IMMUTABLE) for rel, body in raw.items()}

    def weight(self) -> dict[str, int]:
        """Bytes of the JS and CSS as sent to a browser that takes brotli, and gzip, and raw."""
        total = {"raw": 0, "gzip": 0, "br": 0}
        for rel, asset in self.assets.items():
            if rel.endswith((".js", ".css")):
                total["raw"] += len(asset.body)
                total["gzip"] += len(asset.gzip or asset.body)
                total["br"] += len(asset.br or asset.body)
        return total

    def respond(self, request: Request, asset: Asset) -> Response:
        headers = {**SECURITY, "etag": asset.etag, "cache-control": asset.cache, "vary": "accept-encoding"}
        if asset.etag in {t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")}:
            return Response(status_code=304, headers=headers)
        accepted = {part.split(";")[0].strip() for part in request.headers.get("accept-encoding", "").split(",")}
        body = asset.body
        if asset.br is not None and "br" in accepted:
            body, headers["content-encoding"] = asset.br, "br"
        elif asset.gzip is not None and "gzip" in accepted:
            body, headers["content-encoding"] = asset.gzip, "gzip"
        if request.method == "HEAD":
            headers["content-length"] = str(len(body))
            return Response(status_code=200, headers=headers, media_type=asset.media_type)
        return Response(body, headers=headers, media_type=asset.media_type)

    async def index(self, request: Request) -> Response:
        return self.respond(request, self.page)

    async def asset(self, request: Request) -> Response:
        found = self.assets.get(request.path_params["path"])
        if found is None or request.path_params["version"] != self.version:
            # An old page asking for an old version's file gets the current one only by reloading.
            return Response("not found", status_code=404, headers=SECURITY, media_type="text/plain")
        return self.respond(request, found)

    def routes(self) -> list[Route]:
        return [Route("/", self.index, methods=["GET", "HEAD"]),
                Route("/assets/{version}/{path:path}", self.asset, methods=["GET", "HEAD"])]
