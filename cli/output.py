"""Printing results: ``-o table`` (rich, for people), ``json`` or ``yaml`` (for scripts)."""

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
    json = "json"
    yaml = "yaml"


OutputOption = Annotated[Format, typer.Option("--output", "-o", help="table, json or yaml.")]
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
        details(data if isinstance(data, dict) else {"value": data}, title=title)
        return
    table = Table(title=title, title_justify="left")
    for _, header in columns:
        table.add_column(header)
    for row in rows if rows is not None else (data if isinstance(data, list) else []):
        table.add_row(*(_cell(row.get(key)) for key, _ in columns))
    out.print(table)


def details(data: dict[str, Any], *, title: str | None = None) -> None:
    table = Table(show_header=False, title=title, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in data.items():
        table.add_row(key, _cell(value))
    out.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)
