"""``cellctl config``: named contexts, one per deployment (like ``kubectl config``)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import config
from cli.client import CliError
from cli.commands.common import examples, handles_errors
from cli.exits import Exit
from cli.output import Format, OutputOption, emit, out

app = typer.Typer(help="Named contexts: which control plane, as whom (~/.config/cellctl/config.yaml).",
                  no_args_is_help=True)


def _load() -> config.Config:
    try:
        return config.load()
    except config.ConfigError as exc:
        raise CliError(Exit.BAD_INPUT, str(exc)) from exc


@app.command("get-contexts", epilog=examples("cellctl config get-contexts"))
@handles_errors
def get_contexts(output: OutputOption = Format.table) -> None:
    """Every context; the current one is marked."""
    cfg = _load()
    rows = [{"current": "*" if c.name == cfg.current_context else "", "name": c.name,
             "control_plane": c.control_plane,
             "token": f"file {c.token_file}" if c.token_file else f"${c.token_env}" if c.token_env else "-"}
            for c in cfg.contexts]
    emit(rows, output, columns=[("current", "CURRENT"), ("name", "NAME"), ("control_plane", "CONTROL PLANE"),
                                ("token", "TOKEN FROM")])


@app.command("use-context", epilog=examples("cellctl config use-context prod-eu"))
@handles_errors
def use_context(name: Annotated[str, typer.Argument(help="Context name.")]) -> None:
    """Make a context the current one."""
    cfg = _load()
    if cfg.context(name) is None:
        raise CliError(Exit.NOT_FOUND, f"no context {name!r} in {config.path()}")
    cfg.current_context = name
    config.save(cfg)
    out.print(f"current context: {name}")


@app.command("set-context", epilog=examples(
    "cellctl config set-context prod-eu --server https://cp.eu.example.com --token-file ~/.cellctl/eu",
    "cellctl config set-context staging --server https://cp.staging.example.com --token-env STAGING_TOKEN"))
@handles_errors
def set_context(
    name: Annotated[str, typer.Argument(help="Context name.")],
    control_plane: Annotated[str, typer.Option("--server", help="The control plane URL.")],
    token_file: Annotated[str | None, typer.Option(help="A file holding the admin token.")] = None,
    token_env: Annotated[str | None, typer.Option(help="An environment variable holding the admin token.")] = None,
    ca_file: Annotated[str | None, typer.Option(
        "--certificate-authority", help="A PEM file of the private CA the control plane's certificate chains to "
        "(kept as the context's ca-file).")] = None,
    use: Annotated[bool, typer.Option("--use", help="Also make it the current context.")] = False,
) -> None:
    """Add a context, or replace the one of that name."""
    cfg = _load()
    try:
        context = config.Context.model_validate({"name": name, "control-plane": control_plane,
                                                 "token-file": token_file, "token-env": token_env,
                                                 "ca-file": ca_file})
    except ValueError as exc:
        raise CliError(Exit.BAD_INPUT, f"invalid context: {exc}") from exc
    cfg.contexts = [c for c in cfg.contexts if c.name != name] + [context]
    if use or cfg.current_context is None:
        cfg.current_context = name
    written = config.save(cfg)
    out.print(f"context {name} saved in {written}")


@app.command("current-context")
@handles_errors
def current_context() -> None:
    """The current context's name."""
    cfg = _load()
    if cfg.current_context is None:
        raise CliError(Exit.NOT_FOUND, f"no current context in {config.path()}")
    out.print(cfg.current_context)
