"""Outbound HTTP to apps (event delivery, slash commands, url_verification), guarded against SSRF.

An app names a URL; the cell must not become a way to reach what only it can reach. So:

- the host is resolved **once**, every address it resolves to is checked, and the request is
  sent to the checked address (the ``Host`` header and TLS SNI keep the name), so a second
  lookup cannot answer differently (DNS rebinding);
- loopback, private, link-local, multicast, reserved and unspecified addresses (v4, v6 and
  v4-mapped) are refused unless the operator allows their network (``egress.allowed_networks``;
  ``cellctl dev up`` allows loopback, so apps on the same machine work in development);
- **no redirect is followed** (a 3xx is a failed delivery, as Slack counts it);
- the whole exchange has one deadline (Slack's 3 seconds), and at most
  ``egress.max_response_bytes`` of the answer are read.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from typing import Literal

import httpx

from cell.settings import EgressSettings

log = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Slack's X-Slack-Retry-Reason values, and ours for a target we refuse to reach.
Failure = Literal["http_timeout", "too_many_redirects", "connection_failed", "ssl_error",
                  "http_error", "unknown_error", "refused_target"]


class Refused(ValueError):
    """The URL may not be reached from here: a clear message for the operator or the app's owner."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What came back: ``failure`` is None for a 2xx answer."""

    status: int | None
    body: bytes
    content_type: str
    failure: Failure | None
    seconds: float
    no_retry: bool = False  # the app answered ``X-Slack-No-Retry: 1``: do not send this one again

    @property
    def ok(self) -> bool:
        return self.failure is None


def _blocked(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (address.is_loopback or address.is_private or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified or not address.is_global)


def check_url(url: str) -> httpx.URL:
    """The URL parsed, or ``Refused``: only ``http``/``https`` with a host, no credentials."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise Refused(f"not a URL: {url!r}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise Refused("the URL must be http:// or https:// with a host")
    if parsed.userinfo:
        raise Refused("the URL must not carry credentials")
    return parsed


class Egress:
    """One per process; :meth:`open` in the lifespan (or first use), :meth:`close` at the end."""

    def __init__(self, settings: EgressSettings) -> None:
        self.settings = settings
        self.allowed: list[Network] = [ipaddress.ip_network(n, strict=False) for n in settings.allowed_networks]
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False, trust_env=False,
                timeout=httpx.Timeout(self.settings.timeout_seconds),
                limits=httpx.Limits(max_connections=self.settings.max_connections,
                                    max_keepalive_connections=self.settings.max_connections),
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def permitted(self, address: Address) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return not _blocked(address) or any(address in network for network in self.allowed)

    async def resolve(self, url: httpx.URL) -> Address:
        """The one address the request goes to; ``Refused`` if the host resolves to any refused one."""
        host = url.host
        try:
            literal: Address | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            found = [literal]
        else:
            port = url.port or (443 if url.scheme == "https" else 80)
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise Refused(f"{host} does not resolve ({exc})") from exc
            found = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not found:
            raise Refused(f"{host} does not resolve")
        for address in found:
            if not self.permitted(address):
                raise Refused(f"{host} resolves to {address}, a private, loopback or link-local address "
                              "(the operator may allow its network with egress.allowed_networks)")
        return found[0]

    async def post(self, url: str, content: bytes, headers: dict[str, str]) -> Answer:
        """POST ``content`` to ``url`` under the guard. Never raises for the target's failures:
        they are in the answer (``Refused`` only for a URL that may not be reached at all)."""
        parsed = check_url(url)
        address = await self.resolve(parsed)
        host = f"[{address}]" if address.version == 6 else str(address)
        target = parsed.copy_with(host=host)
        sent_headers = {**headers, "Host": parsed.netloc.decode("ascii"),
                        "User-Agent": "Cellchat-Delivery/1.0 (+https://api.slack.com/robots)"}
        extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
        started = time.perf_counter()
        limit = self.settings.max_response_bytes
        try:
            async with asyncio.timeout(self.settings.timeout_seconds):
                request = self.client().build_request("POST", target, content=content, headers=sent_headers,
                                                      extensions=extensions)
                response = await self.client().send(request, stream=True)
                try:
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_bytes():
                        chunks.append(chunk)
                        size += len(chunk)
                        if size >= limit:
                            break  # the rest is never read: the connection is dropped, not reused
                finally:
                    await response.aclose()
        except TimeoutError:
            return Answer(None, b"", "", "http_timeout", time.perf_counter() - started)
        except httpx.ConnectError as exc:
            failure: Failure = "ssl_error" if "SSL" in str(exc) or "certificate" in str(exc) else "connection_failed"
            return Answer(None, b"", "", failure, time.perf_counter() - started)
        except httpx.TimeoutException:
            return Answer(None, b"", "", "http_timeout", time.perf_counter() - started)
        except httpx.HTTPError as exc:
            log.info("egress: POST %s failed: %s", parsed.host, exc)
            return Answer(None, b"", "", "unknown_error", time.perf_counter() - started)
        body = b"".join(chunks)[:limit]
        status = response.status_code
        outcome: Failure | None = None
        if 300 <= status < 400:
            outcome = "too_many_redirects"  # never followed: a redirect could point anywhere
        elif not 200 <= status < 300:
            outcome = "http_error"
        no_retry = response.headers.get("x-slack-no-retry", "").strip() == "1"
        return Answer(status, body, response.headers.get("content-type", ""), outcome, time.perf_counter() - started,
                      no_retry)
