"""``cellctl dev up``."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from cli import devfile
from cli.dev.seed import PASSWORD
from cli.dev.stack import DevError, DevOptions, DevStack, default_cells_file, parse_cell_env
from cli.exits import Exit

app = typer.Typer(help="Run a complete Cellchat deployment on this machine.", no_args_is_help=True)
console = Console(stderr=True)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _ask_drain(cells: list[str]) -> bool:
    if not sys.stdin.isatty():
        return False
    return typer.confirm(f"Drain {', '.join(cells)}?", default=False, err=True)


def _show(dev: devfile.DevFile) -> None:
    cells = Table(title="cells", title_justify="left")
    for column in ("cell", "region", "api", "gateway"):
        cells.add_column(column)
    for cell in dev.cells:
        cells.add_row(cell.name, cell.region, cell.api, cell.gateway)
    people = Table(title=f"demo sign-in (password: {PASSWORD})", title_justify="left")
    for column in ("workspace", "id", "cell", "email", "token"):
        people.add_column(column)
    for ws in dev.workspaces:
        for user in ws.users:
            # Cut only for a person at a terminal: a pipe or a log gets the whole token.
            token = user.token[:24] + "…" if console.is_terminal else user.token
            people.add_row(ws.name, ws.id, ws.cell, user.email, token)
    entry = dev.router or (dev.cells[0].api if dev.cells else "-")
    # Not a terminal (a log, a pipe): one line a row, nothing cut.
    shown = console if console.is_terminal else Console(stderr=True, width=100_000)
    shown.print(cells)
    shown.print(people)
    console.print(Panel.fit(
        f"[bold]Cellchat is up[/]: {entry}\n"
        f"web client: open {entry}/ in a browser; sign in with a workspace id, email and password above\n"
        f"Slack API: {entry}/api/<method>   sign-in: POST {entry}/v1/auth/signin\n"
        f"control plane: {dev.control_plane or '-'}   operate it from this folder: cellctl cells list\n"
        f"details for scripts: {devfile.STATE_DIR}/{devfile.DEV_FILE}     stop: Ctrl-C",
        border_style="green",
    ))


@app.command(
    "up",
    epilog=(
        "Examples:\n\n"
        "  cellctl dev up                      # ports 8099 (control plane), 8100 (router), cells from cells.yaml\n\n"
        "  cellctl dev up --free-ports         # any free ports (several deployments side by side)\n\n"
        "  cellctl dev up -f my-cells.yaml     # another inventory\n\n"
        "  cellctl dev up --cell-env RATE_LIMITS__ENABLED=false --cell-env API__WORKERS=2   # two API processes per cell\n\n"
        "  cellctl dev up -f fewer-cells.yaml --yes   # and drain the cells that file leaves out"
    ),
)
def up(
    cells_file: Annotated[Path | None, typer.Option("--file", "-f", help="Cell inventory (default: ./cells.yaml, else the repository's).")] = None,
    router_port: Annotated[int, typer.Option(help="Router port (a free one if taken).")] = 8100,
    control_plane_port: Annotated[int, typer.Option(help="Control plane port (a free one if taken).")] = 8099,
    free_ports: Annotated[bool, typer.Option("--free-ports", help="Ignore preferred ports; pick free ones.")] = False,
    seed: Annotated[bool, typer.Option(help="Seed one demo workspace per region (once).")] = True,
    cell_env: Annotated[list[str] | None, typer.Option(
        "--cell-env", metavar="KEY=VALUE",
        help="A cell setting for every local cell, repeatable: the name of a CELLCHAT_* variable of "
             "cell/settings.py, with or without the CELLCHAT_ prefix (RATE_LIMITS__ENABLED=false, "
             "REALTIME__SEND_QUEUE_MAX=5000, API__WORKERS=2). Nothing else of this shell's CELLCHAT_* "
             "reaches the cells.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Drain, without asking, cells the catalog has but the "
                                      "file no longer declares (otherwise dev up asks, or refuses without a terminal).")] = False,
) -> None:
    """Start control plane, cells, router and demo data under ./.cellchat/; Ctrl-C stops everything.

    A second run keeps the data (and the ports, when free) and does not seed again.
    """
    folder = Path.cwd()
    try:
        settings = parse_cell_env(cell_env or [])
    except DevError as exc:
        console.print(f"[red]error:[/] {exc}")
        sys.exit(Exit.USAGE)
    ignored = sorted(k for k in os.environ if k.startswith("CELLCHAT_"))
    if ignored:
        console.print(f"[yellow]note:[/] not passed to the cells: {', '.join(ignored)} (use --cell-env)")
    options = DevOptions(folder=folder, cells_file=cells_file or default_cells_file(folder),
                         router_port=router_port, control_plane_port=control_plane_port,
                         free_ports=free_ports, seed=seed, cell_env=settings,
                         confirm_drain=lambda cells: yes or _ask_drain(cells))
    stack = DevStack(options, lambda text: console.print(f"[dim]·[/] {text}"))
    # Explicitly: a shell may start us with SIGINT ignored (background jobs), Ctrl-C must still stop us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    code = Exit.OK
    try:
        dev = stack.up()
        _show(dev)
        refreshed = time.monotonic()
        while True:
            time.sleep(0.2)
            stack.heal()  # a router or control plane that died is back within a second or two
            if time.monotonic() - refreshed < 2.0:
                continue
            refreshed = time.monotonic()
            try:
                dev = stack.refresh(dev)  # dev.json follows provisioning and moves
            except (DevError, httpx.HTTPError) as exc:
                console.print(f"[yellow]note:[/] dev.json not refreshed: {exc}")
    except KeyboardInterrupt:
        console.print("stopping…")
    except DevError as exc:
        console.print(f"[red]error:[/] {exc}")
        code = Exit.FAILED
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.down()
        console.print("stopped.")
    sys.exit(code)
