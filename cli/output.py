"""Printing results: ``-o table`` (rich, for people), ``wide``, ``json`` or ``yaml`` (for scripts).

A table never cuts a token, URL or id short when the output is not a terminal (a pipe, a file),
nor with ``-o wide``: each row is then one line, however long.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class Format(StrEnum):
    table = "table"
    wide = "wide"
    json = "json"
    yaml = "yaml"

    @property
    def human(self) -> bool:
        """A table (``table`` or ``wide``), not data for a script."""
        return self in (Format.table, Format.wide)


OutputOption = Annotated[Format, typer.Option(
    "--output", "-o", help="table, wide (never cut, one line a row), json or yaml.")]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Show what would happen; change nothing.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (scripts).")]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why: recorded in the audit log.")]


def emit(data: Any, fmt: Format, *, columns: Sequence[tuple[str, str]] | None = None,
         rows: list[dict[str, Any]] | None = None, title: str | None = None) -> None:
    """Print ``data`` as JSON/YAML, or ``rows`` (default: ``data``) as a table of ``columns`` (key, header)."""
    if fmt is Format.json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return
    if fmt is Format.yaml:
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
        return
    if columns is None:
        details(data if isinstance(data, dict) else {"value": data}, title=title, fmt=fmt)
        return
    wide = _wide(fmt)
    table = Table(title=title, title_justify="left")
    for _, header in columns:
        table.add_column(header, no_wrap=wide, overflow="ignore" if wide else "fold")
    for row in rows if rows is not None else (data if isinstance(data, list) else []):
        table.add_row(*(_cell(row.get(key)) for key, _ in columns))
    _console(wide).print(table)


def _wide(fmt: Format) -> bool:
    return fmt is Format.wide or not out.is_terminal


def _console(wide: bool) -> Console:
    # Not a terminal: rich would lay tables out for 80 columns and cut what does not fit.
    return Console(file=sys.stdout, soft_wrap=True, width=100_000) if wide else out


def details(data: dict[str, Any], *, title: str | None = None, fmt: Format = Format.table) -> None:
    wide = _wide(fmt)
    table = Table(show_header=False, title=title, title_justify="left")
    table.add_column(style="bold", no_wrap=wide)
    table.add_column(no_wrap=wide, overflow="ignore" if wide else "fold")
    for key, value in data.items():
        table.add_row(key, _cell(value))
    _console(wide).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)
