"""``cellctl``: the Cellchat command line (the composition root of the CLI)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.client import TOKEN_ENV, URL_ENV
from cli.commands import audit, cells, moves, routes, workspaces
from cli.commands.common import Options
from cli.dev import command as dev
from cli.exits import HELP

app = typer.Typer(
    name="cellctl",
    help="Operate Cellchat: cells, workspaces, routes, audit; and a local deployment (`cellctl dev up`).",
    epilog=(
        "Examples:\n\n"
        "  $ cellctl dev up\n\n"
        "  $ cellctl cells list\n\n"
        "  $ cellctl workspaces create --name acme --region eu\n\n"
        "  $ cellctl --control-plane https://cp.example.com workspaces pin T0123456789 --region eu --reason GDPR\n\n"
        "Inside a folder where `cellctl dev up` runs, cellctl finds its control plane and operator token.\n\n"
        + HELP
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    control_plane: Annotated[str | None, typer.Option(
        "--control-plane", envvar=URL_ENV, help="Control plane URL (default: this folder's `cellctl dev up`).")] = None,
    token: Annotated[str | None, typer.Option(
        "--token", envvar=TOKEN_ENV, help="Admin token (default: this folder's dev operator token).")] = None,
) -> None:
    ctx.obj = Options(control_plane=control_plane, token=token)


app.add_typer(cells.app, name="cells")
app.add_typer(workspaces.app, name="workspaces")
app.add_typer(routes.app, name="routes")
app.add_typer(audit.app, name="audit")
app.add_typer(moves.app, name="migrations")
workspaces.app.command("move", epilog=moves.MOVE_EXAMPLES)(moves.move)
app.add_typer(dev.app, name="dev")
