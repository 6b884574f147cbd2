"""``cellctl cells``: list, show, apply, provision, drain, undrain, decommission."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.status import Status

from cli.client import CliError
from cli.commands import moves
from cli.commands.common import confirm, connect, examples, handles_errors, read_input
from cli.exits import Exit
from cli.output import DryRunOption, Format, OutputOption, ReasonOption, YesOption, emit, err, out
from control_plane.inventory import InventoryError, parse

app = typer.Typer(help="The cell inventory: what runs where, and its lifecycle.", no_args_is_help=True)

CELL_COLUMNS = [("name", "CELL"), ("region", "REGION"), ("status", "STATUS"), ("backend", "BACKEND"),
                ("load_text", "WORKSPACES"), ("fullness_text", "FULL"), ("api", "API")]


def _complete_cells(ctx: typer.Context, incomplete: str) -> list[str]:
    try:
        cp = connect(ctx)
    except CliError:
        return []
    try:
        cells = cp.call("GET", "/v1/cells", timeout=2.0)["cells"]
    except (CliError, KeyError):
        return []
    finally:
        cp.close()  # completion contexts are not closed by click
    return [c["name"] for c in cells if c["name"].startswith(incomplete)]


CellArg = Annotated[str, typer.Argument(help="Cell name.", autocompletion=_complete_cells)]


def _rows(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**c, "load_text": f"{c['load']}/{c['capacity']}",
             "fullness_text": f"{(c['fullness'] or 0):.0%}"} for c in cells]


@app.command("list", epilog=examples("cellctl cells list", "cellctl cells list -o json"))
@handles_errors
def list_cells(ctx: typer.Context, output: OutputOption = Format.table) -> None:
    """Every cell: region, status, load against capacity, endpoints."""
    cells = connect(ctx).call("GET", "/v1/cells")["cells"]
    emit(cells, output, columns=CELL_COLUMNS, rows=_rows(cells))


@app.command("show", epilog=examples("cellctl cells show eu-1", "cellctl cells show eu-1 -o yaml"))
@handles_errors
def show(ctx: typer.Context, name: CellArg, output: OutputOption = Format.table) -> None:
    """One cell, with its declared spec and provisioning state."""
    cell = connect(ctx).call("GET", f"/v1/cells/{name}")["cell"]
    emit(cell, output)


def _print_changes(changes: list[dict[str, Any]], dry_run: bool) -> None:
    styles = {"create": "green", "update": "yellow", "drain": "red", "unchanged": "dim"}
    for change in changes:
        out.print(f"[{styles.get(change['kind'], '')}]{change['description']}[/]", highlight=False)
    real = [c for c in changes if c["kind"] != "unchanged"]
    verb = "would change" if dry_run else "changed"
    out.print(f"{len(real)} cell(s) {verb}" + (" (dry run: nothing changed)" if dry_run else ""))


@app.command("apply", epilog=examples(
    "cellctl cells apply -f cells.yaml --dry-run   # show the diff only",
    "cellctl cells apply -f cells.yaml --yes --reason 'add eu-2'",
    "generate-inventory | cellctl cells apply -f - --dry-run   # the inventory from standard input",
))
@handles_errors
def apply(
    ctx: typer.Context,
    file: Annotated[Path, typer.Option("--file", "-f", help="The inventory (cells.yaml); - reads standard input.")],
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    reason: ReasonOption = None,
    output: OutputOption = Format.table,
) -> None:
    """Reconcile the catalog with a cells.yaml, like kubectl apply: create, update, drain what is gone.

    A bad file is refused with the key and line at fault, and nothing changes.
    Draining a cell asks for confirmation.
    """
    text = read_input(file)
    if str(file) == "-":
        file = Path("<stdin>")
    try:
        parse(text, str(file))
    except InventoryError as exc:
        raise CliError(Exit.BAD_INPUT, f"invalid inventory: {exc}") from exc
    cp = connect(ctx)
    body = {"yaml": text, "source": str(file), "reason": reason}
    plan = cp.call("POST", "/v1/cells/apply", json={**body, "dry_run": True})
    if dry_run:
        if output.human:
            _print_changes(plan["changes"], True)
        else:
            emit(plan, output)
        return
    drains = [c["cell"] for c in plan["changes"] if c["kind"] == "drain"]
    if drains:
        if output.human:
            _print_changes(plan["changes"], True)
        confirm(f"Drain {', '.join(drains)} (no new workspaces there)?", yes)
    done = cp.call("POST", "/v1/cells/apply", json={**body, "dry_run": False})
    if output.human:
        _print_changes(done["changes"], False)
    else:
        emit(done, output)


@app.command("provision", epilog=examples(
    "cellctl cells provision eu-2            # start it, wait until healthy and active",
    "cellctl cells provision eu-2 --no-wait  # return at once; watch with `cellctl cells show eu-2`",
))
@handles_errors
def provision(
    ctx: typer.Context,
    name: CellArg,
    wait: Annotated[bool, typer.Option(help="Wait until the cell is active (or failed).")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait.")] = 300.0,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    reason: ReasonOption = None,
    output: OutputOption = Format.table,
) -> None:
    """Bring a declared cell up with its backend (local: its own PostgreSQL, Redis and processes).

    It becomes active only after its health and readiness checks pass.
    Interrupted, running it again resumes with the same ports and data.
    """
    cp = connect(ctx)
    started = cp.call("POST", f"/v1/cells/{name}/provision", json={"dry_run": dry_run, "reason": reason})
    if dry_run or not wait:
        emit(started, output)
        return
    deadline = time.monotonic() + timeout
    cell: dict[str, Any] = started["cell"]
    with Status(f"provisioning {name}…", console=err) as status:
        while True:
            step = cell["provisioning"].get("step")
            if step in ("done", "failed"):
                break
            if time.monotonic() > deadline:
                raise CliError(Exit.FAILED, f"{name} is still provisioning after {timeout:.0f}s (step {step});"
                               " it goes on in the control plane")
            status.update(f"provisioning {name}: {step}…")
            time.sleep(0.3)
            cell = cp.call("GET", f"/v1/cells/{name}")["cell"]
    if cell["provisioning"].get("step") == "failed":
        raise CliError(Exit.FAILED, f"provisioning {name} failed: {cell['provisioning'].get('error')}")
    emit(cell, output, title=f"{name} is {cell['status']}")


@app.command("drain", epilog=examples("cellctl cells drain us-1 --reason 'hardware refresh'",
                                      "cellctl cells drain us-1 --dry-run   # where each workspace would go",
                                      "cellctl cells drain us-1 --parallel 5 --no-wait --yes"))
@handles_errors
def drain(
    ctx: typer.Context,
    name: CellArg,
    parallel: Annotated[int | None, typer.Option(help="Moves at a time (default: the control plane's).")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the moves live until the end.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to follow.")] = 24 * 3600.0,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    reason: ReasonOption = None,
    output: OutputOption = Format.table,
) -> None:
    """Drain a cell (asks first): nothing new is placed there and every workspace moves off it, within
    its region and the other cells' capacity, a few at a time; then the cell is drained."""
    moves.drain_cell(ctx, name, parallel=parallel, wait=wait, timeout=timeout, dry_run=dry_run, yes=yes,
                     reason=reason, output=output)


@app.command("undrain", epilog=examples("cellctl cells undrain us-1 --reason 'refresh done'",
                                        "cellctl cells undrain us-1 --dry-run"))
@handles_errors
def undrain(
    ctx: typer.Context,
    name: CellArg,
    dry_run: DryRunOption = False,
    reason: ReasonOption = None,
    output: OutputOption = Format.table,
) -> None:
    """Let a draining or drained cell take new workspaces again (kubectl's uncordon): it is active.

    A drain still running stops: its migrations not yet started are aborted, those under way finish.
    Undraining an active cell changes nothing.
    """
    result = connect(ctx).call("POST", f"/v1/cells/{name}/undrain", json={"dry_run": dry_run, "reason": reason})
    emit(result, output, title=f"{name}: {result.get('would_be') or result['status']}"
         + (" (dry run: nothing changed)" if dry_run else "" if result["changed"] else " (unchanged)"))


@app.command("decommission", epilog=examples(
    "cellctl cells decommission us-3 --dry-run   # what would happen; nothing changes",
    "cellctl cells decommission us-3 --reason 'hardware retired'",
    "cellctl cells drain us-3 --yes && cellctl cells decommission us-3 --yes   # empty it first",
))
@handles_errors
def decommission(
    ctx: typer.Context,
    name: CellArg,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the backend to remove the cell.")] = 900.0,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    reason: ReasonOption = None,
    output: OutputOption = Format.table,
) -> None:
    """Retire an empty cell for good and take it down with its backend (asks first).

    A cell that still hosts workspaces is refused (drain it first), and so is one with a move
    from or to it. The backend removes it: local deletes its folder and data, kubernetes
    uninstalls its Helm release (the namespace and your Secret stay), endpoints stops routing to
    it. A retired cell's name is never used again.
    """
    cp = connect(ctx)
    if dry_run or not yes:
        # The question names what would happen; with --yes the request goes straight in (and a refusal
        # of it is audited, as every refused change is).
        plan = cp.call("POST", f"/v1/cells/{name}/decommission", json={"dry_run": True, "reason": reason})
        if dry_run or not plan.get("would_be"):
            emit(plan, output, title=f"{name}: {plan.get('would_be') or plan['status']}"
                 + (" (dry run: nothing changed)" if dry_run else " (unchanged)"))
            return
        confirm(f"Decommission {name} ({plan['backend']} backend, now {plan['status']})? "
                "This removes the cell and its data for good.", yes)
    with Status(f"decommissioning {name}…", console=err):
        result = cp.call("POST", f"/v1/cells/{name}/decommission", json={"dry_run": False, "reason": reason},
                         timeout=timeout)
    emit(result, output, title=f"{name}: {result['status']}")
