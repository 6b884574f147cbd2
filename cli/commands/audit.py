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


CELL_COLUMNS = [("cell", "CELL"), ("region", "REGION"), ("arrived_at", "DATA SINCE"), ("left_at", "DELETED AT"),
                ("home", "SERVED IT"), ("decided", "DECIDED BY")]


def _decided(cell: dict[str, Any]) -> str:
    return "; ".join(f"#{d['seq']} {d['action']} by {d['actor']} ({d['role']})" for d in cell["decisions"])


@app.command("residency", epilog=examples(
    "cellctl audit residency T0123456789",
    "cellctl audit residency T0123456789 --signed --file residency.json   # for an auditor",
))
@handles_errors
def residency(
    ctx: typer.Context,
    workspace: Annotated[str, typer.Argument(help="Workspace id (T…).")],
    signed: Annotated[bool, typer.Option("--signed", help="Sign it (Ed25519) for offline verification.")] = False,
    file: Annotated[Path | None, typer.Option("--file", help="Write the JSON report here.")] = None,
    output: OutputOption = Format.table,
) -> None:
    """Every cell (and region) the workspace's data — messages, files, search data, backups — has
    lived in, with when and who decided, from the audit log; the whole hash chain is verified first
    (compliance role). Exit code 1 when the chain is broken or data ever left a pinned region."""
    document = connect(ctx).call("GET", f"/v1/workspaces/{workspace}/residency",
                                 params={"signed": str(signed).lower()})
    report = document["report"]
    if file:
        file.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        err.print(f"wrote {file}", highlight=False)
    if output.human:
        emit(report["cells"], output, columns=CELL_COLUMNS, title=f"Where {workspace}'s data has lived",
             rows=[{**c, "decided": _decided(c)} for c in report["cells"]])
        pins = ", ".join(f"{p['region'] or 'none'} (#{p['seq']} by {p['actor']})" for p in report["pins"]) or "never"
        err.print(f"regions: {', '.join(report['regions'])}; pins: {pins}", highlight=False)
    elif not file:
        emit(document, output)
    chain = report["chain"]
    if not chain["ok"]:
        raise CliError(Exit.FAILED, f"the audit chain does not verify: broken at entry {chain['broken_at']}: "
                                    f"{chain['problem']}; this report cannot be trusted")
    if report["violations"]:
        raise CliError(Exit.FAILED, f"data reached a cell outside the pinned region: {report['violations']}")
    err.print(f"hash chain verified ({chain['entries']} entries, head #{chain['head_seq']})", highlight=False)


@app.command("verify-residency", epilog=examples(
    "cellctl audit verify-residency residency.json --public-key residency-key.pem",
    "cellctl audit verify-residency residency.json --public-key MCowBQYDK2VwAyEA...   # base64 of the raw key",
))
def verify_residency(
    report: Annotated[Path, typer.Argument(help="A signed report (cellctl audit residency --signed --file).")],
    public_key: Annotated[str, typer.Option(
        help="The control plane's public key (GET /v1/audit/public-key): a PEM file, or base64 of the raw 32 bytes.")],
) -> None:
    """Check a signed residency report offline, with nothing but the report and the public key:
    its signature, every audit entry's hash, that the cells listed follow from the entries, and
    that the chain verified when it was made. Exit code 1 when anything does not."""
    from control_plane.domain import residency as checks  # offline: no control plane is contacted

    try:
        document = json.loads(report.read_text(encoding="utf-8"))
        source = Path(public_key)
        key = checks.load_public_key(source.read_text(encoding="utf-8") if source.is_file() else public_key)
    except (OSError, ValueError) as exc:
        err.print(f"[red]error:[/] cannot read the report or the key: {exc}", highlight=False)
        raise typer.Exit(int(Exit.BAD_INPUT)) from exc
    problems = checks.verify(document, key)
    if problems:
        for problem in problems:
            err.print(f"[red]not verified:[/] {problem}", highlight=False)
        raise typer.Exit(int(Exit.FAILED))
    body = document["report"]
    cells = ", ".join(f"{c['cell']} ({c['region']})" for c in body["cells"])
    err.print(f"verified: {body['workspace']} has lived in {cells}; signed by key {checks.key_id(key)}",
              highlight=False)
