"""Finding the control plane and talking to it; HTTP outcomes become ``cellctl`` exit codes.

Where: ``--control-plane URL``, else ``$CELLCHAT_CONTROL_PLANE_URL``, else the context named by
``--context`` or ``$CELLCTL_CONTEXT`` (``cli.config``), else the ``cellctl dev up`` running in this
folder (``.cellchat/dev.json``), else the config's current context.
As whom: ``--token``, else ``$CELLCHAT_CONTROL_PLANE_TOKEN``, else the chosen context's token, else
that deployment's operator token (``.cellchat/secrets.json``).
Trusting whom: the system's CAs, or a private CA from ``--ca-file``, ``$CELLCHAT_CA_FILE`` or the
chosen context's ``ca-file``.
"""

from __future__ import annotations

import json
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cli import config, devfile
from cli.exits import Exit

URL_ENV, TOKEN_ENV, CA_ENV = "CELLCHAT_CONTROL_PLANE_URL", "CELLCHAT_CONTROL_PLANE_TOKEN", "CELLCHAT_CA_FILE"

_EXITS = {400: Exit.BAD_INPUT, 401: Exit.DENIED, 403: Exit.DENIED, 404: Exit.NOT_FOUND, 409: Exit.REFUSED}


class CliError(Exception):
    """Ends the command with ``code``; ``str()`` is the message for the user."""

    def __init__(self, code: Exit, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.body = body or {}


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    token: str | None
    source: str  # where the URL came from (for messages)
    ca_file: str | None = None  # a private CA to verify the control plane's certificate with

    def verify(self) -> ssl.SSLContext | bool:
        """What httpx verifies the control plane's (and its links') certificates with."""
        if self.ca_file is None:
            return True
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise CliError(Exit.BAD_INPUT, f"the CA file {self.ca_file} cannot be used: {exc}") from exc


def _dev_key(folder: Path, name: str) -> str | None:
    try:
        keys = json.loads((folder / devfile.STATE_DIR / "secrets.json").read_text())
    except (OSError, ValueError):
        return None
    token = keys.get(name) if isinstance(keys, dict) else None
    return token if isinstance(token, str) else None


def dev_operator_token(folder: Path) -> str | None:
    return _dev_key(folder, "operator")


def dev_router_token(folder: Path) -> str | None:
    """The token the dev deployment's router holds (it guards the router's route lookups)."""
    return _dev_key(folder, "router")


def _context(name: str) -> config.Context:
    try:
        found = config.load().context(name)
    except config.ConfigError as exc:
        raise CliError(Exit.BAD_INPUT, str(exc)) from exc
    if found is None:
        raise CliError(Exit.USAGE, f"no context {name!r} in {config.path()} (cellctl config get-contexts)")
    return found


def discover(url: str | None, token: str | None, folder: Path | None = None,
             context: str | None = None, ca_file: str | None = None) -> Target:
    folder = folder or Path.cwd()
    source = "--control-plane"
    if not url and os.environ.get(URL_ENV):
        url, source = os.environ[URL_ENV], f"${URL_ENV}"
    chosen: config.Context | None = None
    context = context or os.environ.get(config.CONTEXT_ENV)
    if not url and context:
        chosen = _context(context)
        url, source = chosen.control_plane, f"context {chosen.name}"
    dev = devfile.read(folder) if not url else None
    if not url and dev is not None and dev.control_plane:
        url, source = dev.control_plane, str(devfile.path_in(folder))
    if not url:
        try:
            current = config.load()
        except config.ConfigError as exc:
            raise CliError(Exit.BAD_INPUT, str(exc)) from exc
        if current.current_context:
            chosen = _context(current.current_context)
            url, source = chosen.control_plane, f"context {chosen.name}"
    if not url:
        raise CliError(Exit.USAGE, "where is the control plane? Pass --control-plane URL or --context NAME, set "
                       f"${URL_ENV}, run inside a folder where `cellctl dev up` runs, or "
                       "`cellctl config set-context`")
    token = token or os.environ.get(TOKEN_ENV) or (chosen.token() if chosen else None) or dev_operator_token(folder)
    ca_file = ca_file or os.environ.get(CA_ENV) or (chosen.ca_file if chosen else None)
    return Target(url.rstrip("/"), token, source, str(Path(ca_file).expanduser()) if ca_file else None)


def unreachable(where: str, exc: httpx.HTTPError) -> str:
    """Why ``where`` did not answer, with the way out when its certificate is not trusted."""
    if isinstance(exc, httpx.ConnectError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return (f"{where} has a TLS certificate this machine does not trust ({exc}); pass the CA it chains to "
                f"with --ca-file PATH (or ${CA_ENV}, or a context's ca-file)")
    return f"{where} does not answer: {exc.__class__.__name__}"


class ControlPlane:
    def __init__(self, target: Target, timeout: float = 30.0) -> None:
        self.target = target
        headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
        self.http = httpx.Client(base_url=target.url, headers=headers, timeout=timeout, verify=target.verify())

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, *, json: dict[str, Any] | None = None,
             params: dict[str, Any] | None = None, timeout: float | None = None) -> dict[str, Any]:
        try:
            response = self.http.request(method, path, json=json, params=params,
                                         timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as exc:
            raise CliError(Exit.UNREACHABLE, unreachable(
                f"the control plane at {self.target.url} (from {self.target.source})", exc)) from exc
        try:
            body: dict[str, Any] = response.json()
        except ValueError as exc:
            raise CliError(Exit.FAILED, f"{method} {path}: HTTP {response.status_code}, not JSON") from exc
        if not body.get("ok"):
            code = _EXITS.get(response.status_code, Exit.FAILED)
            raise CliError(code, f"{body.get('error')}: {body.get('message', '')}", body)
        body.pop("ok")  # the envelope: what remains is the answer
        return body

    def stream_lines(self, path: str) -> Any:
        """Yield the lines of a streamed (NDJSON) answer."""
        try:
            with self.http.stream("GET", path, timeout=httpx.Timeout(30.0, read=300.0)) as response:
                if response.status_code != 200:
                    response.read()
                    body = response.json()
                    raise CliError(_EXITS.get(response.status_code, Exit.FAILED),
                                   f"{body.get('error')}: {body.get('message', '')}", body)
                yield from response.iter_lines()
        except httpx.HTTPError as exc:
            raise CliError(Exit.UNREACHABLE, f"the control plane at {self.target.url} stopped answering: "
                           f"{exc.__class__.__name__}") from exc
