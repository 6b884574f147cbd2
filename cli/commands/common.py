"""What every control-plane command shares: connecting, confirming, and turning failures into exit codes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
import typer
from rich.markup import escape

from cli.client import CliError, ControlPlane, discover
from cli.exits import Exit
from cli.output import err

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class Options:
    control_plane: str | None = None
    token: str | None = None
    context: str | None = None
    ca_file: str | None = None


def connect(ctx: typer.Context) -> ControlPlane:
    options = ctx.find_object(Options) or Options()
    cp = ControlPlane(discover(options.control_plane, options.token, context=options.context,
                               ca_file=options.ca_file))
    ctx.call_on_close(cp.close)
    return cp


def confirm(question: str, yes: bool) -> None:
    """Ask before a destructive change; ``--yes`` answers for scripts. Declining exits with ABORTED."""
    if yes:
        return
    try:
        agreed = click.confirm(question, default=False, err=True)
    except click.Abort:
        agreed = False
    if not agreed:
        raise CliError(Exit.ABORTED, "aborted; nothing changed (pass --yes to skip this question)")


def read_input(file: Path) -> str:
    """The text of ``file``; ``-`` is standard input (``-f -``, as kubectl)."""
    try:
        if str(file) == "-":
            return sys.stdin.read()
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(Exit.BAD_INPUT, f"cannot read {file}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise CliError(Exit.BAD_INPUT, f"{file} is not a text file (UTF-8): byte {exc.start} is "
                                       f"0x{exc.object[exc.start]:02x}") from exc


def handles_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Print a ``CliError`` on stderr and exit with its code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except CliError as exc:
            # escape: a message quoting a pattern ("^[a-z]...") is not rich markup
            err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
            sys.exit(int(exc.code))

    return wrapper


def examples(*lines: str) -> str:
    """An ``epilog`` listing examples (one per paragraph so rich keeps the lines)."""
    return "Examples:\n\n" + "\n\n".join(f"  $ {line}" for line in lines)


def drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
