"""``cellctl holds``: legal holds on people and conversations (compliance role; docs/compliance.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.commands.common import connect, examples, handles_errors
from cli.output import Format, OutputOption, ReasonOption, emit

app = typer.Typer(help="Legal holds: keep what people delete, override retention.", no_args_is_help=True)

COLUMNS = [("id", "HOLD"), ("name", "NAME"), ("users", "PEOPLE"), ("conversations", "CONVERSATIONS"),
           ("created_by", "BY"), ("created_at", "PLACED"), ("active", "ACTIVE"), ("release_reason", "RELEASED BECAUSE")]

WorkspaceArg = Annotated[str, typer.Argument(help="Workspace id (T…).")]


def _rows(holds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**h, "users": " ".join(h["users"]), "conversations": " ".join(h["conversations"])} for h in holds]


@app.command("list", epilog=examples("cellctl holds list T0123456789", "cellctl holds list T0123456789 --all -o json"))
@handles_errors
def list_holds(
    ctx: typer.Context,
    workspace: WorkspaceArg,
    every: Annotated[bool, typer.Option("--all", help="Released holds too.")] = False,
    output: OutputOption = Format.table,
) -> None:
    """A workspace's legal holds, oldest first (compliance role)."""
    found = connect(ctx).call("GET", f"/v1/workspaces/{workspace}/holds", params={"all": str(every).lower()})["holds"]
    emit(found, output, columns=COLUMNS, rows=_rows(found))


@app.command("place", epilog=examples(
    "cellctl holds place T0123456789 --name 'matter 7' --user U0123456789 --reason 'litigation hold, case 7'",
    "cellctl holds place T0123456789 --name audit --conversation C0123456789 --conversation D0123456789 "
    "--reason 'SEC inquiry'",
))
@handles_errors
def place(
    ctx: typer.Context,
    workspace: WorkspaceArg,
    name: Annotated[str, typer.Option(help="What the hold is for (a matter, a case).")],
    user: Annotated[list[str] | None, typer.Option("--user", help="A person to hold (U…); repeat for more.")] = None,
    conversation: Annotated[list[str] | None, typer.Option(
        "--conversation", help="A conversation to hold (C…, G…, D…); repeat for more.")] = None,
    reason: ReasonOption = None,
    output: OutputOption = Format.table,
) -> None:
    """Place a legal hold (compliance role): what the held people write, and everything in the held
    conversations, is kept when users delete or edit it and is never deleted by retention."""
    made = connect(ctx).call("POST", f"/v1/workspaces/{workspace}/holds", json={
        "name": name, "users": user or [], "conversations": conversation or [], "reason": reason})["hold"]
    emit(made, output, columns=COLUMNS if output.human else None, rows=_rows([made]))


@app.command("release", epilog=examples("cellctl holds release T0123456789 H0123456789 --reason 'case settled'"))
@handles_errors
def release(
    ctx: typer.Context,
    workspace: WorkspaceArg,
    hold: Annotated[str, typer.Argument(help="Hold id (H…).")],
    reason: ReasonOption = None,
    output: OutputOption = Format.table,
) -> None:
    """Release a legal hold with the reason (compliance role). What it kept goes with the next
    retention run, unless another hold covers it."""
    done = connect(ctx).call("POST", f"/v1/workspaces/{workspace}/holds/{hold}/release", json={"reason": reason})["hold"]
    emit(done, output, columns=COLUMNS if output.human else None, rows=_rows([done]))
