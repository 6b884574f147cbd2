"""Typed settings for the router, read once from the environment (``CELLCHAT_ROUTER_*``)."""

from __future__ import annotations

import ssl
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(Exception):
    """A setting that parses but cannot be used (a file that is not there); the router does not start."""


class ProxySettings(BaseModel):
    """Forwarding to cells (``router/upstream.py``); the connection limits are per cell."""

    connect_timeout: float = 3.0
    read_timeout: float = 60.0
    # Per cell: at most ``max_connections`` requests in flight (more would only queue inside the
    # cell's processes, out of sight), ``max_queue`` waiting here for one of them, each at most
    # ``pool_timeout`` s; beyond either bound the answer is 503 cell_busy + Retry-After at once,
    # so past saturation latency stays bounded instead of growing with the backlog.
    pool_timeout: float = 2.0
    max_connections: int = 32
    max_queue: int = 128
    max_keepalive: int = 32  # idle connections kept per cell
    keepalive_expiry: float = 4.0  # well below the cells' keep-alive timeout (cell.server.CELL_KEEPALIVE_SECONDS)
    max_body_bytes: int = 2 * 1024 * 1024  # requests are buffered up to this (a 421 retry resends them)
    # Cells served over https (``api: https://...`` in cells.yaml) are verified against this CA
    # (PEM) only, e.g. a private CA; unset: the system's CAs. A certificate that fails verification
    # answers 502 cell_unavailable; the router never falls back to plain http. Checked when the
    # router starts (``cell_tls``): a missing, unreadable or non-PEM file stops it.
    ca_file: Path | None = None

    def cell_tls(self) -> ssl.SSLContext:
        """The TLS context for https cells; ``SettingsError`` when ``ca_file`` cannot be used."""
        return _tls(self.ca_file, "proxy.ca_file")


def _tls(ca_file: Path | None, name: str) -> ssl.SSLContext:
    if ca_file is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except FileNotFoundError:
        raise SettingsError(f"{name}: the CA file {ca_file} does not exist") from None
    except PermissionError:
        raise SettingsError(f"{name}: the CA file {ca_file} cannot be read") from None
    except (ssl.SSLError, OSError) as exc:
        raise SettingsError(f"{name}: {ca_file} holds no usable PEM certificate ({exc})") from None


class RouterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CELLCHAT_ROUTER_", env_nested_delimiter="__")

    host: str = "127.0.0.1"
    port: int = 8100
    control_plane_url: str = "http://127.0.0.1:8099"
    control_plane_token: SecretStr = SecretStr("")  # any role that may read routes (viewer); also guards /_router/routes
    # An https control plane is verified against this CA (PEM) only, e.g. a private CA; unset:
    # httpx's default (certifi, or SSL_CERT_FILE). Checked at start-up (``control_plane_tls``) like
    # ``proxy.ca_file``: a missing, unreadable or non-PEM file stops the router.
    control_plane_ca_file: Path | None = None
    dev: bool = False  # a developer's own machine: an empty or built-in token is accepted
    state_file: Path = Path(".cellchat/router/routes.json")  # the last table, to serve without a control plane
    push: bool = True  # follow the control plane's push stream (off: snapshots every refresh_seconds only)
    refresh_seconds: float = 300.0  # full refresh (safety net under the push stream)
    watch_idle_seconds: float = 30.0  # reconnect when the push stream is silent this long
    miss_cache_seconds: float = 2.0  # remember "no such workspace" this long
    proxy: ProxySettings = Field(default_factory=ProxySettings)
    web_root: Path | None = None  # the web client's files; None: the packaged router/web (bench: a bare page)

    def control_plane_tls(self) -> ssl.SSLContext | bool:
        """httpx's ``verify=`` for an https control plane: its CA file only, else httpx's default
        (``True``: certifi, or ``SSL_CERT_FILE``); ``SettingsError`` when the CA file cannot be used."""
        if self.control_plane_ca_file is None:
            return True
        return _tls(self.control_plane_ca_file, "control_plane_ca_file")
