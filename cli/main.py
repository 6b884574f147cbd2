"""``cellctl``: the Cellchat command line (the composition root of the CLI)."""

from __future__ import annotations

import typer

from cli.dev import command as dev
from cli.exits import HELP

app = typer.Typer(
    name="cellctl",
    help="Operate Cellchat: cells, workspaces, routes, audit; and a local deployment (`cellctl dev up`).",
    epilog=HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(dev.app, name="dev")
