"""The web client's static files, served by the router (docs/web.md).

Everything under ``router/web/`` is read once at start, compressed once (brotli and gzip) and
served from memory with a strong ``ETag``. Assets live under ``/assets/<version>/`` where the
version is a digest of all the files: they are cached for a year as immutable, and a new
release changes every asset URL at once (ES module imports are relative, so they follow).
``/`` is the page itself, ``no-cache`` (always revalidated: 304 when unchanged), with the
asset version written into it. Every answer carries the security headers; the page's
Content-Security-Policy allows scripts and styles from this origin only (no inline script),
and no framing.

The page's session survives a reload (docs/web.md, Security): a sign-in the page makes (it sends
``X-Cellchat-Web: 1``) gets an HttpOnly, SameSite=Strict cookie holding the session token, scoped
to ``/v1/web/session`` (Secure over https). On load the page asks ``POST /v1/web/session`` for
the token, which answers only a same-origin request carrying that header; ``DELETE`` clears the
cookie. The cookie authorises nothing else: the router strips cookies from what it forwards and
reads tokens only from the header, query and body (``router.identify.token_of``).
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

import brotli
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cell.api.responses import JSON
from cell.domain import tokens
from router.upstream import Response as CellResponse

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
# The session cookie: sent by the browser to this one path only, never to /api/* or /v1/* else.
SESSION_PATH = "/v1/web/session"
SESSION_COOKIE = "cellchat_session"
SESSION_MAX_AGE = 30 * 24 * 3600
WEB_HEADER = "x-cellchat-web"  # the page's own requests; a cross-site form or <img> cannot send it
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
                Route(SESSION_PATH, session, methods=["POST", "DELETE"]),
                Route("/assets/{version}/{path:path}", self.asset, methods=["GET", "HEAD"])]


def _cookie(value: str, max_age: int, secure: bool) -> bytes:
    return (f"{SESSION_COOKIE}={value}; Path={SESSION_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict"
            + ("; Secure" if secure else "")).encode("latin-1")


def is_web(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(key == WEB_HEADER.encode() and value == b"1" for key, value in headers)


async def remember(response: CellResponse, secure: bool) -> CellResponse:
    """A successful web sign-in's answer with the session cookie added (the body as the cell sent it)."""
    content = await response.aread()
    await response.aclose()
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        body = None
    headers = list(response.headers)
    token = body.get("token") if isinstance(body, dict) and body.get("ok") is True else None
    # Only a token of ours (no ';', ',' or space that could end the cookie or add an attribute).
    if isinstance(token, str) and tokens.workspace_of(token) is not None and token.isascii() \
            and not any(c in token for c in ";, \t\r\n\"\\"):
        headers.append((b"set-cookie", _cookie(token, SESSION_MAX_AGE, secure)))
    return CellResponse.complete(response.status_code, headers, content)


def _same_origin(request: Request) -> bool:
    """The request comes from this router's own page: its ``Origin`` is the origin it was sent to
    and it carries the page's header (which a cross-origin page can only send after a CORS preflight
    that the router never grants)."""
    origin = request.headers.get("origin")
    host = request.headers.get("host")
    return (request.headers.get(WEB_HEADER) == "1" and origin is not None and host is not None
            and origin == f"{request.url.scheme}://{host}")


async def session(request: Request) -> Response:
    """``POST``: the session token the cookie holds; ``DELETE``: forget it (sign-out)."""
    headers = {"cache-control": "no-store"}
    if not _same_origin(request):
        return JSON({"ok": False, "error": "forbidden_origin"}, status_code=403, headers=headers)
    secure = request.url.scheme == "https"
    if request.method == "DELETE":
        response = JSON({"ok": True}, headers=headers)
        response.raw_headers.append((b"set-cookie", _cookie("", 0, secure)))
        return response
    token = request.cookies.get(SESSION_COOKIE)
    workspace = tokens.workspace_of(token) if token else None
    if token is None or workspace is None:
        return JSON({"ok": False, "error": "not_authed"}, headers=headers)
    return JSON({"ok": True, "token": token, "workspace_id": workspace}, headers=headers)
