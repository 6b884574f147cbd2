"""``cellctl workspaces export`` and ``cellctl workspaces import``: Slack's export format, both ways."""

from __future__ import annotations

import hashlib
import ssl
import threading
import time
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.client import _EXITS, CliError, ControlPlane
from cli.commands.common import connect, handles_errors
from cli.exits import Exit
from cli.output import Format, OutputOption, ReasonOption, emit
from cli.slack_archive import Archive, ArchiveError

err = Console(stderr=True)

EXPORT_EXAMPLES = ("Examples:\n\n  $ cellctl workspaces export T0123456789 --download acme.zip\n\n"
                   "  $ cellctl workspaces export T0123456789 --compliance --reason 'case 42' -o json")
IMPORT_EXAMPLES = ("Examples:\n\n  $ cellctl workspaces import slack-export.zip --region eu\n\n"
                   "  $ cellctl workspaces import slack-export.zip --region eu --pin --name acme -o json")

BATCH_ITEMS = 2000
BATCH_BYTES = 900_000  # under the control plane's and the cell's 1 MiB body limit
IN_FLIGHT = 3


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=False)


def _raw(cp: ControlPlane, method: str, path: str, content: Any, headers: dict[str, str]) -> dict[str, Any]:
    """A call with a body we encode (orjson) or stream ourselves; errors as ``ControlPlane.call``'s."""
    try:
        response = cp.http.request(method, path, content=content, headers=headers, timeout=600.0)
    except httpx.HTTPError as exc:
        raise CliError(Exit.UNREACHABLE, f"the control plane at {cp.target.url} does not answer: "
                       f"{exc.__class__.__name__}") from exc
    try:
        body: dict[str, Any] = response.json()
    except ValueError as exc:
        raise CliError(Exit.FAILED, f"{method} {path}: HTTP {response.status_code}, not JSON") from exc
    if not body.get("ok"):
        raise CliError(_EXITS.get(response.status_code, Exit.FAILED),
                       f"{body.get('error')}: {body.get('message', '')}", body)
    return body


# --- export ----------------------------------------------------------------------------------


def _download(url: str, target: Path, sha256: str, verify: ssl.SSLContext | bool) -> None:
    digest = hashlib.sha256()
    partial = target.with_name(target.name + ".partial")
    try:
        with httpx.stream("GET", url, timeout=httpx.Timeout(30.0, read=600.0), verify=verify) as response:
            if response.status_code != 200:
                response.read()
                body = response.json()
                raise CliError(_EXITS.get(response.status_code, Exit.FAILED),
                               f"download refused: {body.get('error')}")
            with partial.open("wb") as out:
                for chunk in response.iter_bytes(1024 * 1024):
                    digest.update(chunk)
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise CliError(Exit.UNREACHABLE, f"the download stopped: {exc.__class__.__name__}") from exc
    if digest.hexdigest() != sha256:
        partial.unlink(missing_ok=True)
        raise CliError(Exit.FAILED, f"the archive's sha256 is {digest.hexdigest()}, its record says {sha256}")
    partial.replace(target)


@handles_errors
def export(
    ctx: typer.Context,
    workspace: Annotated[str, typer.Argument(help="Workspace id (T…).")],
    compliance: Annotated[bool, typer.Option(
        "--compliance", help="Include held and deleted-under-hold content (compliance role).")] = False,
    download: Annotated[Path | None, typer.Option(
        "--download", help="Also download the archive here (its sha256 is checked).")] = None,
    link_seconds: Annotated[int, typer.Option(help="How long the download link is valid.", min=1,
                                              max=86400)] = 900,
    wait: Annotated[bool, typer.Option(help="Wait for the export, showing its progress.")] = True,
    reason: ReasonOption = None,
    output: OutputOption = Format.table,
) -> None:
    """Export a workspace in Slack's format (users.json, channels.json, … one folder per conversation,
    one JSON file per day, files under __uploads/). The export runs in the workspace's own cell and
    is stored there; you get a signed link that expires, and its SHA-256."""
    cp = connect(ctx)
    started = cp.call("POST", f"/v1/workspaces/{workspace}/exports",
                      json={"compliance": compliance, "reason": reason})["export"]
    path = f"/v1/workspaces/{workspace}/exports/{started['id']}"
    if not wait:
        emit(started, output)
        return
    current = started
    with _progress() as progress:
        conversations = progress.add_task("conversations", total=None)
        messages = progress.add_task("messages", total=None)
        while current["state"] in ("queued", "running"):
            time.sleep(0.3)
            current = cp.call("GET", path)["export"]
            progress.update(conversations, total=current["conversations_total"] or None,
                            completed=current["conversations_done"])
            progress.update(messages, total=None, completed=current["messages_done"])
    if current["state"] != "complete":
        raise CliError(Exit.FAILED, f"export {current['id']} {current['state']}: {current.get('error')}")
    answer = cp.call("GET", path, params={"link_seconds": link_seconds})
    if download is not None:
        _download(answer["download"]["url"], download, answer["download"]["sha256"], cp.target.verify())
        answer["download"]["file"] = str(download)
    if output.human:
        emit({"export": current["id"], "workspace": workspace, "compliance": current["compliance"],
              "messages": current["messages_done"], "conversations": current["conversations_done"],
              "files": current["files_done"], "size": current["size"], "sha256": current["sha256"],
              "cell": current["cell"], "region": current["region"], "url": answer["download"]["url"],
              "expires": answer["download"]["expires"], **({"file": str(download)} if download else {})}, output)
    else:
        emit(answer, output)


# --- import ----------------------------------------------------------------------------------


def _merge(into: Counter[tuple[str, str]], examples: dict[tuple[str, str], str], found: list[dict[str, Any]]) -> None:
    for item in found:
        key = (str(item["kind"]), str(item["reason"]))
        into[key] += int(item.get("count", 1))
        if "id" in item:
            examples.setdefault(key, str(item["id"]))


@handles_errors
def import_(
    ctx: typer.Context,
    archive: Annotated[Path, typer.Argument(help="A Slack export (.zip).", exists=False)],
    region: Annotated[str, typer.Option(help="Region the new workspace must live in (as for create).")],
    name: Annotated[str | None, typer.Option(help="Workspace name (default: the archive's file name).")] = None,
    pin: Annotated[bool, typer.Option("--pin", help="Also pin it to the region.")] = False,
    max_bytes: Annotated[int, typer.Option(help="Refuse archives that inflate past this many bytes.")] = 64 * 1024 ** 3,
    batch: Annotated[int, typer.Option(help="Messages per batch.", min=1, max=5000)] = BATCH_ITEMS,
    reason: ReasonOption = None,
    output: OutputOption = Format.table,
) -> None:
    """Create a workspace from a Slack export: people, channels (public and private), members, DMs and
    group DMs, messages with their original ts, threads, reactions, pins and files. The whole archive
    is checked first (nothing is created from a bad one). Run it again after a failure: it completes
    the same workspace without duplicates. Ends with a report of what could not be mapped."""
    if not archive.is_file():
        raise CliError(Exit.BAD_INPUT, f"{archive}: no such file")
    try:
        with Archive(archive, max_bytes=max_bytes) as source:
            answer = _import(connect(ctx), source, archive, region=region, name=name or archive.stem, pin=pin,
                             batch=batch, reason=reason)
    except ArchiveError as exc:
        raise CliError(Exit.BAD_INPUT, str(exc)) from exc
    if output.human:
        emit({k: answer[k] for k in ("workspace", "cell", "region", "resumed", "owner", "token")}, output)
        emit(answer["counts"], output)
        if answer["unmapped"]:
            emit(answer["unmapped"], output, columns=[("kind", "KIND"), ("reason", "REASON"), ("count", "COUNT"),
                                                      ("example", "EXAMPLE")])
    else:
        emit(answer, output)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _import(cp: ControlPlane, source: Archive, path: Path, *, region: str, name: str, pin: bool, batch: int,
            reason: str | None) -> dict[str, Any]:
    started = cp.call("POST", "/v1/imports", json={"name": name[:100], "region": region, "pin": pin,
                                                   "source_sha256": _sha256_of(path), "reason": reason})
    workspace = started["workspace"]
    unmapped: Counter[tuple[str, str]] = Counter(source.unmapped)
    examples = dict(source.examples)
    json_headers = {"content-type": "application/json"}

    merging = threading.Lock()

    def send(kind: str, items: list[dict[str, Any]]) -> None:
        body = _raw(cp, "POST", f"/v1/imports/{workspace}/{kind}", orjson.dumps({kind: items}), json_headers)
        with merging:
            _merge(unmapped, examples, body["unmapped"])

    send("users", source.user_batch().items)
    send("conversations", source.conversation_batch().items)
    records = []
    with _progress() as progress:
        files = progress.add_task("files", total=len(source.files))
        for file_id in sorted(source.files):
            member = source.upload_of(file_id)
            if member is None:
                unmapped[("file", "content_not_in_archive")] += 1
                examples.setdefault(("file", "content_not_in_archive"), file_id)
                progress.advance(files)
                continue
            sha256, size = source.file_content(member)
            with source.open(member) as stream:
                _raw(cp, "PUT", f"/v1/imports/{workspace}/objects/sha256/{sha256}",
                     iter(lambda: stream.read(1024 * 1024), b""), {"content-length": str(size)})
            records.append(source.file_record(file_id, sha256, size, member))
            progress.advance(files)
        for start in range(0, len(records), 500):
            send("files", records[start:start + 500])
        messages = progress.add_task("messages", total=source.total_messages)
        # A few batches in flight: the cell inserts one while the next is read, checked and sent.
        # Order does not matter: every row is keyed by its source identity, threads are counted at finish.
        with ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool:
            flying: deque[tuple[Future[None], int]] = deque()
            for chunk in source.message_batches(max_items=batch, max_bytes=BATCH_BYTES):
                if len(flying) >= IN_FLIGHT:
                    done_future, n = flying.popleft()
                    done_future.result()
                    progress.advance(messages, n)
                flying.append((pool.submit(send, "messages", chunk.items), chunk.messages))
            for done_future, n in flying:
                done_future.result()
                progress.advance(messages, n)
        progress.update(messages, completed=source.total_messages)
    for key, count in source.unmapped.items():  # noted while reading the messages
        unmapped[key] = max(unmapped[key], count)
        examples.setdefault(key, source.examples.get(key, ""))
    report = [{"kind": k, "reason": r, "count": n, "example": examples.get((k, r))}
              for (k, r), n in sorted(unmapped.items())]
    done = cp.call("POST", f"/v1/imports/{workspace}/finish",
                   json={"owner": source.owner(), "unmapped": sum(unmapped.values())})
    return {**done, "resumed": started["resumed"], "messages_in_archive": source.total_messages, "unmapped": report}
