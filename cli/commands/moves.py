"""``cellctl migrations``, ``cellctl workspaces move`` and ``cellctl cells drain``: moving live workspaces.

Moves run in the control plane (it resumes them after a restart); these commands
start them and follow their progress, live, until they end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cli.client import CliError, ControlPlane
from cli.commands.common import confirm, connect, examples, handles_errors
from cli.exits import Exit
from cli.output import DryRunOption, Format, OutputOption, ReasonOption, YesOption, emit, err

app = typer.Typer(help="Workspace migrations between cells: follow, abort, resume, collect old copies.",
                  no_args_is_help=True)

FINISHED = ("done", "aborted", "failed")
COLUMNS = [("id", "ID"), ("workspace", "WORKSPACE"), ("source", "FROM"), ("target", "TO"), ("status", "STATUS"),
           ("phase", "PHASE"), ("elapsed", "ELAPSED"), ("freeze", "FREEZE"), ("error", "ERROR")]

WaitOption = Annotated[bool, typer.Option("--wait/--no-wait", help="Follow it live until it ends (default), or "
                                                                   "return at once.")]
TimeoutOption = Annotated[float, typer.Option(help="Seconds to follow before giving up (it goes on anyway).")]
MigrationArg = Annotated[int, typer.Argument(help="Migration id (see `cellctl migrations list`).")]


def _rows(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**m, "elapsed": f"{m['elapsed_seconds']:.1f}s",
             "freeze": f"{m['freeze_ms']} ms" if m["freeze_ms"] is not None else None} for m in found]


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n = n / 1024  # type: ignore[assignment]
    return str(n)


def view(m: dict[str, Any]) -> RenderableType:
    """One migration as people follow it: phase, rows copied per table, replication lag, elapsed."""
    progress = m["progress"]
    styles = {"done": "green", "aborted": "yellow", "failed": "red"}
    head = Text.from_markup(
        f"[bold]migration {m['id']}[/]  {m['workspace']}  {m['source']} -> {m['target']}   "
        f"[{styles.get(m['status'], 'cyan')}]{m['status']}: {m['phase']}[/]   elapsed {m['elapsed_seconds']:.1f}s")
    lag = progress.get("lag_seconds")
    facts = [f"tables copied {progress.get('tables_ready', 0)}/{progress.get('tables_total', '?')}",
             f"replication lag {'?' if lag is None else f'{lag:.2f}s'} ({_size(progress.get('lag_bytes'))})"]
    if m["freeze_ms"] is not None:
        facts.append(f"write freeze {m['freeze_ms']} ms")
    table = Table(show_edge=False, pad_edge=False)
    for header in ("TABLE", "SOURCE ROWS", "COPIED", ""):
        table.add_column(header, justify="right" if header else "left")
    for name, counts in progress.get("tables", {}).items():
        source, copied = counts.get("source", 0), counts.get("target", 0)
        share = f"{min(copied / source, 1):.0%}" if source else "-"
        table.add_row(name, f"{source:,}", f"{copied:,}", share)
    parts: list[RenderableType] = [head, Text("   ".join(facts))]
    if progress.get("tables"):
        parts.append(table)
    if m["error"]:
        parts.append(Text(f"error: {m['error']}", style="red"))
    return Group(*parts)


def _follow(fetch: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool],
            render: Callable[[dict[str, Any]], RenderableType], live: bool, timeout: float) -> dict[str, Any]:
    """Poll until ``done``, showing ``render`` live on stderr when ``live``."""
    deadline = time.monotonic() + timeout
    current = fetch()
    with Live(render(current), console=err, refresh_per_second=4, transient=False) if live else _Quiet() as shown:
        while not done(current):
            if time.monotonic() > deadline:
                raise CliError(Exit.FAILED, f"still running after {timeout:.0f}s; it goes on in the control plane")
            time.sleep(0.25)
            current = fetch()
            shown.update(render(current))
    return current


class _Quiet:
    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, _: RenderableType) -> None:
        return None


def _outcome(m: dict[str, Any], output: Format) -> None:
    if not output.human:
        emit(m, output)
    if m["status"] != "done":
        why = m["error"] or f"see cellctl migrations show {m['id']}"
        raise CliError(Exit.FAILED, f"migration {m['id']} {m['status']}: {why}", m)
    if output.human:
        err.print(f"[green]{m['workspace']} now lives in {m['target']}[/] (write freeze {m['freeze_ms']} ms)",
                  highlight=False)


def follow(cp: ControlPlane, move_id: int, output: Format, timeout: float) -> None:
    final = _follow(lambda: cp.call("GET", f"/v1/migrations/{move_id}")["migration"],
                    lambda m: m["status"] in FINISHED, view, output.human, timeout)
    _outcome(final, output)


# --- cellctl workspaces move -----------------------------------------------------------------------

MOVE_EXAMPLES = examples(
    "cellctl workspaces move T0123456789 --to eu-1 --reason 'customer asked for EU hosting'",
    "cellctl workspaces move T0123456789 --to us-2 --no-wait -o json   # scripts: the migration id, at once",
    "cellctl workspaces move T0123456789 --to eu-1 --dry-run          # checks only (pins, capacity)",
)


@handles_errors
def move(
    ctx: typer.Context,
    workspace: Annotated[str, typer.Argument(help="Workspace id (T…).")],
    to: Annotated[str, typer.Option("--to", help="The cell it moves to.")],
    wait: WaitOption = True,
    timeout: TimeoutOption = 3600.0,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    reason: ReasonOption = None,
    output: OutputOption = Format.table,
) -> None:
    """Move a live workspace to another cell, its people still chatting (PostgreSQL logical replication).

    Refused, with the reason and nothing changed, out of the workspace's pinned region, to a cell that is
    not active or is full, or while it already moves. Writes pause for about a second at the switch;
    clients reconnect to the new cell by themselves.
    """
    cp = connect(ctx)
    started = cp.call("POST", "/v1/migrations", json={"workspace": workspace, "to": to, "reason": reason,
                                                      "dry_run": dry_run})
    if dry_run:
        emit(started, output)
        return
    migration = started["migration"]
    if not wait:
        emit(migration, output, columns=COLUMNS if output.human else None, rows=_rows([migration]))
        return
    follow(cp, migration["id"], output, timeout)


# --- cellctl migrations ... ------------------------------------------------------------------------


@app.command("list", epilog=examples("cellctl migrations list", "cellctl migrations list --status running",
                                     "cellctl migrations list --workspace T0123456789 -o json"))
@handles_errors
def list_migrations(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="queued, running, done, aborted or failed.")] = None,
    workspace: Annotated[str | None, typer.Option(help="Only this workspace's.")] = None,
    cell: Annotated[str | None, typer.Option(help="Only those from or to this cell.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
    output: OutputOption = Format.table,
) -> None:
    """Migrations, newest first: where from and to, status, phase, elapsed time, write-freeze window."""
    params = {k: v for k, v in {"status": status, "workspace": workspace, "cell": cell, "limit": limit}.items()
              if v is not None}
    found = connect(ctx).call("GET", "/v1/migrations", params=params)["migrations"]
    emit(found, output, columns=COLUMNS, rows=_rows(found))


@app.command("show", epilog=examples("cellctl migrations show 7", "cellctl migrations show 7 --watch"))
@handles_errors
def show(
    ctx: typer.Context,
    migration: MigrationArg,
    watch: Annotated[bool, typer.Option("--watch", help="Follow it live until it ends.")] = False,
    output: OutputOption = Format.table,
) -> None:
    """One migration: phase, rows per table, replication lag, verification, write-freeze window, error."""
    cp = connect(ctx)
    if watch:
        follow(cp, migration, output, 3600.0)
        return
    found = cp.call("GET", f"/v1/migrations/{migration}")["migration"]
    if output.human:
        err.print(view(found))
    else:
        emit(found, output)


@app.command("abort", epilog=examples("cellctl migrations abort 7 --reason 'peak hours' --yes"))
@handles_errors
def abort(
    ctx: typer.Context,
    migration: MigrationArg,
    wait: WaitOption = True,
    yes: YesOption = False,
    reason: ReasonOption = None,
    output: OutputOption = Format.table,
) -> None:
    """Abort a migration before its route switch (asks first): the workspace stays where it was, with
    everything written meanwhile; the target's copy is removed. After the switch it only goes forward."""
    cp = connect(ctx)
    confirm(f"Abort migration {migration}? The workspace stays on its current cell.", yes)
    found = cp.call("POST", f"/v1/migrations/{migration}/abort", json={"reason": reason, "wait": wait},
                    timeout=600.0)["migration"]
    emit(found, output, columns=COLUMNS if output.human else None, rows=_rows([found]))


@app.command("resume", epilog=examples("cellctl migrations resume 7", "cellctl migrations resume 7 --no-wait"))
@handles_errors
def resume(
    ctx: typer.Context,
    migration: MigrationArg,
    wait: WaitOption = True,
    timeout: TimeoutOption = 3600.0,
    yes: YesOption = False,
    reason: ReasonOption = None,
    output: OutputOption = Format.table,
) -> None:
    """Resume a failed migration where it stopped (after fixing what failed: a cell down, say)."""
    cp = connect(ctx)
    found = cp.call("POST", f"/v1/migrations/{migration}/resume", json={"reason": reason})["migration"]
    if not wait:
        emit(found, output, columns=COLUMNS if output.human else None, rows=_rows([found]))
        return
    follow(cp, migration, output, timeout)


@app.command("gc", epilog=examples("cellctl migrations gc --dry-run", "cellctl migrations gc --yes",
                                   "cellctl migrations gc --grace 3600 --yes   # older than an hour"))
@handles_errors
def gc(
    ctx: typer.Context,
    grace: Annotated[float | None, typer.Option(
        help="Keep copies of moves that ended less than this many seconds ago (default: the control "
             "plane's, a week).")] = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    reason: ReasonOption = None,
    output: OutputOption = Format.table,
) -> None:
    """Delete the old copies moved workspaces left on their former cells, past the grace period (asks first).

    Only copies their cell marked moved, of workspaces the catalog places elsewhere, are deleted.
    """
    cp = connect(ctx)
    if not dry_run:
        confirm("Delete the old copies of moved workspaces past the grace period?", yes)
    done = cp.call("POST", "/v1/migrations/gc", json={"grace_seconds": grace, "dry_run": dry_run,
                                                      "reason": reason}, timeout=3600.0)
    emit(done, output, columns=[("migration", "MIGRATION"), ("workspace", "WORKSPACE"), ("cell", "CELL"),
                                ("outcome", "OUTCOME")], rows=done["collected"])


# --- cellctl cells drain ---------------------------------------------------------------------------


def _drain_view(d: dict[str, Any]) -> RenderableType:
    table = Table(title=f"cell {d['cell']}: {d['status']}, {d['workspaces']} workspace(s) left",
                  title_justify="left")
    for header in ("MIGRATION", "WORKSPACE", "TO", "STATUS", "PHASE", "ELAPSED", "FREEZE"):
        table.add_column(header)
    for m in d["migrations"]:
        table.add_row(str(m["id"]), m["workspace"], m["target"], m["status"], m["phase"],
                      f"{m['elapsed_seconds']:.1f}s", f"{m['freeze_ms']} ms" if m["freeze_ms"] is not None else "-")
    return table


def drain_cell(ctx: typer.Context, name: str, *, parallel: int | None, wait: bool, timeout: float, dry_run: bool,
               yes: bool, reason: str | None, output: Format) -> None:
    """``cellctl cells drain``: no new workspaces on the cell, every workspace moved off it (in its region,
    within capacity, a few at a time), then the cell is ``drained``."""
    cp = connect(ctx)
    if not dry_run:
        confirm(f"Drain cell {name}? Every workspace moves off it and nothing new is placed there.", yes)
    started = cp.call("POST", "/v1/migrations/drain", json={"cell": name, "parallel": parallel, "reason": reason,
                                                            "dry_run": dry_run})
    if dry_run or not wait:
        emit(started, output, columns=[("workspace", "WORKSPACE"), ("target", "TO")] if dry_run else None,
             rows=started.get("plan"))
        return

    def finished(d: dict[str, Any]) -> bool:
        return d["drain"] is None or d["drain"]["status"] != "running"

    final = _follow(lambda: cp.call("GET", f"/v1/migrations/drains/{name}"), finished, _drain_view,
                    output.human, timeout)
    if output.human:
        err.print(f"cell {name} is {final['status']} ({final['workspaces']} workspace(s) left)", highlight=False)
    else:
        emit(final, output)
    if final["status"] != "drained":
        raise CliError(Exit.FAILED, f"cell {name} is {final['status']}: some migrations did not finish "
                       "(cellctl migrations list --cell " + name + ")", final)
