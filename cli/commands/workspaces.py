"""``cellctl workspaces``: list, show, create (placement), pin, unpin."""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any

import typer

from cli.commands.common import confirm, connect, examples, handles_errors
from cli.output import DryRunOption, Format, OutputOption, ReasonOption, YesOption, emit

app = typer.Typer(help="Workspaces: where they live, placement, regional pins.", no_args_is_help=True)

COLUMNS = [("id", "WORKSPACE"), ("name", "NAME"), ("cell", "CELL"), ("region", "REGION"),
           ("region_pin", "PIN"), ("status", "STATUS")]

WorkspaceArg = Annotated[str, typer.Argument(help="Workspace id (T…).")]


@app.command("list", epilog=examples("cellctl workspaces list", "cellctl workspaces list --region eu -o json"))
@handles_errors
def list_workspaces(
    ctx: typer.Context,
    cell: Annotated[str | None, typer.Option(help="Only those on this cell.")] = None,
    region: Annotated[str | None, typer.Option(help="Only those in this region.")] = None,
    output: OutputOption = Format.table,
) -> None:
    """Workspaces with their cell, region and pin."""
    params = {k: v for k, v in {"cell": cell, "region": region}.items() if v}
    found = connect(ctx).call("GET", "/v1/workspaces", params=params)["workspaces"]
    emit(found, output, columns=COLUMNS)


@app.command("show", epilog=examples("cellctl workspaces show T0123456789"))
@handles_errors
def show(ctx: typer.Context, workspace: WorkspaceArg, output: OutputOption = Format.table) -> None:
    """One workspace."""
    emit(connect(ctx).call("GET", f"/v1/workspaces/{workspace}")["workspace"], output)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "team"


@app.command("create", epilog=examples(
    "cellctl workspaces create --name acme --region eu",
    "cellctl workspaces create --name acme --region eu --pin --reason 'GDPR'  # placed and pinned",
    "cellctl workspaces create --name acme --region us --dry-run             # which cell would host it",
))
@handles_errors
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Workspace name.")],
    region: Annotated[str, typer.Option(help="Region it must live in (no fallback to another).")],
    owner_email: Annotated[str | None, typer.Option(help="Owner's email (default owner@<name>.example.com).")] = None,
    owner_name: Annotated[str, typer.Option(help="Owner's display name.")] = "owner",
    owner_password: Annotated[str | None, typer.Option(
        envvar="CELLCHAT_OWNER_PASSWORD", help="Owner's password (default: generated, printed once).")] = None,
    workspace_id: Annotated[str | None, typer.Option("--id", help="Choose the id (T…).")] = None,
    pin: Annotated[bool, typer.Option("--pin", help="Also pin it to the region.")] = False,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    reason: ReasonOption = None,
    output: OutputOption = Format.table,
) -> None:
    """Place a workspace on the active cell of REGION with most headroom and create it there.

    Refused, with the reason, when the region is unknown, has no active cell, or every cell is full.
    """
    password = owner_password or secrets.token_urlsafe(12)
    body: dict[str, Any] = {
        "name": name, "region": region, "pin": pin, "dry_run": dry_run, "reason": reason,
        "owner": {"email": owner_email or f"owner@{_slug(name)}.example.com", "name": owner_name,
                  "password": password},
    }
    if workspace_id:
        body["workspace_id"] = workspace_id
    made = connect(ctx).call("POST", "/v1/workspaces", json=body)
    if not dry_run and owner_password is None:
        made["owner_password"] = password
    if output.human:
        emit({**made["workspace"], **{k: made[k] for k in ("token", "owner_password") if k in made},
              "dry_run": dry_run}, output)
    else:
        emit(made, output)


@app.command("pin", epilog=examples("cellctl workspaces pin T0123456789 --region eu --reason 'GDPR: EU customer'"))
@handles_errors
def pin(
    ctx: typer.Context,
    workspace: WorkspaceArg,
    region: Annotated[str, typer.Option(help="The region its data must stay in.")],
    reason: ReasonOption = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    output: OutputOption = Format.table,
) -> None:
    """Pin a workspace to a region (compliance role). Placement, moves and the cell itself then refuse
    any other region; the pin and its reason are audited."""
    emit(connect(ctx).call("POST", f"/v1/workspaces/{workspace}/pin",
                           json={"region": region, "reason": reason, "dry_run": dry_run}), output)


@app.command("unpin", epilog=examples("cellctl workspaces unpin T0123456789 --reason 'contract ended' --yes"))
@handles_errors
def unpin(
    ctx: typer.Context,
    workspace: WorkspaceArg,
    reason: ReasonOption = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    output: OutputOption = Format.table,
) -> None:
    """Remove a workspace's regional pin (compliance role; asks first)."""
    if not dry_run:
        confirm(f"Unpin {workspace}? Its data may then be moved out of its region.", yes)
    emit(connect(ctx).call("POST", f"/v1/workspaces/{workspace}/unpin",
                           json={"reason": reason, "dry_run": dry_run}), output)
