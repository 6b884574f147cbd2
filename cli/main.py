"""``cellctl``: the Cellchat command line (the composition root of the CLI)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.client import CA_ENV, TOKEN_ENV, URL_ENV
from cli.commands import audit, cells, holds, moves, retention, routes, transfers, workspaces
from cli.commands import config as config_cmd
from cli.commands.common import Options
from cli.config import CONTEXT_ENV
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
    context: Annotated[str | None, typer.Option(
        "--context", envvar=CONTEXT_ENV, help="A named context of `cellctl config` (another deployment).")] = None,
    ca_file: Annotated[str | None, typer.Option(
        "--ca-file", envvar=CA_ENV, help="A PEM file of the private CA the control plane's HTTPS certificate "
        "chains to (default: the system's CAs, or the context's ca-file).")] = None,
) -> None:
    ctx.obj = Options(control_plane=control_plane, token=token, context=context, ca_file=ca_file)


app.add_typer(cells.app, name="cells")
app.add_typer(workspaces.app, name="workspaces")
app.add_typer(routes.app, name="routes")
app.add_typer(audit.app, name="audit")
app.add_typer(holds.app, name="holds")
app.add_typer(retention.app, name="retention")
app.add_typer(moves.app, name="migrations")
workspaces.app.command("move", epilog=moves.MOVE_EXAMPLES)(moves.move)
workspaces.app.command("export", epilog=transfers.EXPORT_EXAMPLES)(transfers.export)
workspaces.app.command("import", epilog=transfers.IMPORT_EXAMPLES)(transfers.import_)
app.add_typer(dev.app, name="dev")
app.add_typer(config_cmd.app, name="config")

# Options of the root that may also come after the subcommand, and those of every command
# that may also come before it (kubectl takes both orders).
_ROOT_OPTIONS = {"--control-plane", "--token", "--context", "--ca-file"}
_LEAF_OPTIONS = {"-o", "--output"}


def reorder(args: list[str]) -> list[str]:
    """``args`` with root options moved before the first subcommand and ``-o`` after the last,
    so ``cellctl cells list --control-plane URL`` and ``cellctl -o json cells list`` both work."""
    root: list[str] = []
    leaf: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0]
        if name in _ROOT_OPTIONS | _LEAF_OPTIONS or (arg.startswith("-o") and not arg.startswith("--") and len(arg) > 2):
            target = root if name in _ROOT_OPTIONS else leaf
            if "=" in arg or (arg.startswith("-o") and len(arg) > 2 and not arg.startswith("--")):
                target.append(arg)
                i += 1
                continue
            target.extend(args[i:i + 2])
            i += 2
            continue
        rest.append(arg)
        i += 1
    if "--" in rest:
        cut = rest.index("--")
        return root + rest[:cut] + leaf + rest[cut:]
    return root + rest + leaf


def run() -> None:
    """The ``cellctl`` console script."""
    import sys

    app(args=reorder(sys.argv[1:]), prog_name="cellctl")
