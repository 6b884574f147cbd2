"""``cellctl audit``: who did what, when and why; proof of where a workspace's data has lived."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.client import CliError
from cli.commands.common import connect, examples, handles_errors
from cli.exits import Exit
from cli.output import Format, OutputOption, emit, err

app = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)

COLUMNS = [("seq", "SEQ"), ("at", "AT"), ("actor", "ACTOR"), ("role", "ROLE"), ("action", "ACTION"),
           ("target", "TARGET"), ("outcome", "OUTCOME"), ("reason", "REASON"), ("summary", "DETAILS")]


def _summary(entry: dict[str, Any]) -> str:
    details = entry["details"]
    if "error" in details:
        return str(details.get("message") or details["error"])
    parts = [f"{k}={v}" for k, v in details.items() if k in ("cell", "region", "region_pin", "from", "to")]
    return " ".join(parts) or json.dumps(details)[:60]


@app.command("list", epilog=examples(
    "cellctl audit list --workspace T0123456789   # every placement, pin and move of it",
    "cellctl audit list --action workspaces.pin --limit 20 -o json",
))
@handles_errors
def list_entries(
    ctx: typer.Context,
    workspace: Annotated[str | None, typer.Option(help="Entries about this workspace.")] = None,
    target: Annotated[str | None, typer.Option(help="Entries about this target (a cell name, 'inventory').")] = None,
    action: Annotated[str | None, typer.Option(help="Only actions starting with this (e.g. workspaces.).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    output: OutputOption = Format.table,
) -> None:
    """Audit entries, newest first (compliance or sre role)."""
    params: dict[str, Any] = {"limit": limit}
    if workspace or target:
        params["target"] = workspace or target
    if action:
        params["action"] = action
    entries = connect(ctx).call("GET", "/v1/audit", params=params)["entries"]
    emit(entries, output, columns=COLUMNS, rows=[{**e, "summary": _summary(e)} for e in entries])


@app.command("export", epilog=examples("cellctl audit export > audit.ndjson",
                                        "cellctl audit export --file audit.ndjson"))
@handles_errors
def export(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Option("--file", help="Write here instead of standard output.")] = None,
) -> None:
    """The whole log as JSON lines, oldest first, with each entry's hash and the previous one's.

    The last line is the control plane's verification of the chain; the exit code is 1
    when the chain does not verify.
    """
    sink = open(file, "w") if file else sys.stdout
    verdict: dict[str, Any] = {}
    try:
        for line in connect(ctx).stream_lines("/v1/audit/export"):
            if not line.strip():
                continue
            sink.write(line + "\n")
            record = json.loads(line)
            if "verification" in record:
                verdict = record["verification"]
    finally:
        if file:
            sink.close()
    if not verdict.get("ok"):
        raise CliError(Exit.FAILED, f"the audit chain does not verify: {verdict}")
    err.print(f"exported {verdict['entries']} entries; hash chain verified", highlight=False)


@app.command("verify", epilog=examples("cellctl audit verify"))
@handles_errors
def verify(ctx: typer.Context, output: OutputOption = Format.table) -> None:
    """Recompute the hash chain over the whole log; exit code 1 when it is broken."""
    verdict = connect(ctx).call("GET", "/v1/audit/verify")["verification"]
    emit(verdict, output)
    if not verdict["ok"]:
        raise CliError(Exit.FAILED, f"broken at entry {verdict['broken_at']}: {verdict['problem']}")
