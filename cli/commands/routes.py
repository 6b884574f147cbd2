"""``cellctl routes``: where requests for a workspace go."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from cli import devfile
from cli.client import dev_router_token
from cli.commands.common import connect, examples, handles_errors
from cli.output import Format, OutputOption, emit

app = typer.Typer(help="The routing table (workspace -> cell).", no_args_is_help=True)


@app.command("lookup", epilog=examples("cellctl routes lookup T0123456789",
                                        "cellctl routes lookup T0123456789 --router http://127.0.0.1:8100"))
@handles_errors
def lookup(
    ctx: typer.Context,
    workspace: Annotated[str, typer.Argument(help="Workspace id (T…).")],
    router: Annotated[str | None, typer.Option(help="Also ask this router what it would do "
                                                    "(default: the dev deployment's router).")] = None,
    output: OutputOption = Format.table,
) -> None:
    """The cell that serves a workspace, per the control plane, and per the router when one is known."""
    found = connect(ctx).call("GET", f"/v1/routes/{workspace}")
    result: dict[str, Any] = {"workspace": workspace, "cell": found["cell"]["name"],
                              "region": found["cell"]["region"], "api": found["cell"]["api"],
                              "gateway": found["cell"]["gateway"], "version": found["version"]}
    dev = devfile.read_here()
    router = router or (dev.router if dev else None)
    if router:
        # The router tells routes only to a holder of its own token: the dev deployment's, else ours.
        token = (dev_router_token(Path.cwd()) if dev and router == dev.router else None) or connect(ctx).target.token
        try:
            seen = httpx.get(f"{router.rstrip('/')}/_router/routes/{workspace}", timeout=3.0,
                             headers={"Authorization": f"Bearer {token}"} if token else {}).json()
            result["router"] = {"url": router, "cell": (seen.get("cell") or {}).get("name"),
                                "version": seen.get("version")}
        except (httpx.HTTPError, ValueError):
            result["router"] = {"url": router, "error": "no answer"}
    emit(result, output)
