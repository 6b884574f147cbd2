"""``cellctl retention``: how long a workspace's messages and files are kept (docs/compliance.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.client import CliError
from cli.commands.common import connect, examples, handles_errors
from cli.exits import Exit
from cli.output import Format, OutputOption, ReasonOption, emit

app = typer.Typer(help="Retention policies: keep forever, or N days (workspace, DMs, per conversation).",
                  no_args_is_help=True)

COLUMNS = [("scope", "SCOPE"), ("conversation", "CONVERSATION"), ("keep", "KEEP"), ("set_by", "SET BY"),
           ("set_at", "SET AT")]

WorkspaceArg = Annotated[str, typer.Argument(help="Workspace id (T…).")]
DmsOption = Annotated[bool, typer.Option("--dms", help="The policy of DMs and group DMs.")]
ConversationOption = Annotated[str | None, typer.Option(help="The policy of one conversation (C…, G…, D…).")]


def _scope(dms: bool, conversation: str | None) -> dict[str, Any]:
    if dms and conversation:
        raise CliError(Exit.BAD_INPUT, "choose --dms or --conversation, not both")
    if conversation:
        return {"scope": "conversation", "conversation": conversation}
    return {"scope": "dms" if dms else "workspace"}


@app.command("show", epilog=examples("cellctl retention show T0123456789"))
@handles_errors
def show(ctx: typer.Context, workspace: WorkspaceArg, output: OutputOption = Format.table) -> None:
    """A workspace's retention policies. Without any, everything is kept forever."""
    found = connect(ctx).call("GET", f"/v1/workspaces/{workspace}/retention")
    emit(found, output, columns=COLUMNS, rows=found["policies"])


@app.command("set", epilog=examples(
    "cellctl retention set T0123456789 --days 365 --reason 'records policy 4.2'",
    "cellctl retention set T0123456789 --dms --days 30 --reason 'DMs: 30 days'",
    "cellctl retention set T0123456789 --conversation C0123456789 --forever --reason 'board minutes'",
))
@handles_errors
def set_policy(
    ctx: typer.Context,
    workspace: WorkspaceArg,
    days: Annotated[int | None, typer.Option(help="Keep this many days (1-36500), then delete.")] = None,
    forever: Annotated[bool, typer.Option("--forever", help="Keep forever.")] = False,
    dms: DmsOption = False,
    conversation: ConversationOption = None,
    reason: ReasonOption = None,
    output: OutputOption = Format.table,
) -> None:
    """Set a retention policy (compliance role). The most specific applies: a conversation's, then
    the DMs' (for DMs and group DMs), then the workspace's. Legal holds override all of them."""
    if (days is None) == (not forever):
        raise CliError(Exit.BAD_INPUT, "say how long: --days N or --forever")
    if days is not None and days < 1:
        raise CliError(Exit.BAD_INPUT, f"--days must be at least 1 (got {days}); nothing changed")
    body = {**_scope(dms, conversation), "keep_days": days, "reason": reason}
    found = connect(ctx).call("PUT", f"/v1/workspaces/{workspace}/retention", json=body)
    emit(found, output, columns=COLUMNS, rows=found["policies"])


@app.command("remove", epilog=examples("cellctl retention remove T0123456789 --dms --reason 'back to the default'"))
@handles_errors
def remove(
    ctx: typer.Context,
    workspace: WorkspaceArg,
    dms: DmsOption = False,
    conversation: ConversationOption = None,
    reason: ReasonOption = None,
    output: OutputOption = Format.table,
) -> None:
    """Remove a retention policy (compliance role); the next less specific one then applies."""
    found = connect(ctx).call("POST", f"/v1/workspaces/{workspace}/retention/remove",
                              json={**_scope(dms, conversation), "reason": reason})
    emit(found, output, columns=COLUMNS, rows=found["policies"])
