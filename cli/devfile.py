"""``.cellchat/dev.json``: what a running ``cellctl dev up`` serves, for scripts, tests and ``cellctl``.

    {"router": url|null, "control_plane": url|null,
     "cells": [{"name", "region", "api", "gateway"}],
     "workspaces": [{"id", "name", "cell", "region", "users": [{"id", "email", "password", "token", "name"}]}]}

It exists only while the deployment runs: ``dev up`` writes it once everything is
ready and removes it when it stops.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

STATE_DIR = ".cellchat"
DEV_FILE = "dev.json"


class DevCell(BaseModel):
    name: str
    region: str
    api: str
    gateway: str


class DevUser(BaseModel):
    id: str
    email: str
    password: str
    token: str
    name: str = ""


class DevWorkspace(BaseModel):
    id: str
    name: str
    cell: str
    region: str = ""
    users: list[DevUser] = Field(default_factory=list)


class DevFile(BaseModel):
    router: str | None = None
    control_plane: str | None = None
    cells: list[DevCell] = Field(default_factory=list)
    workspaces: list[DevWorkspace] = Field(default_factory=list)
    pid: int | None = None


def path_in(folder: Path) -> Path:
    return folder / STATE_DIR / DEV_FILE


def write(folder: Path, dev: DevFile) -> Path:
    target = path_in(folder)
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(dev.model_dump(mode="json"), indent=2) + "\n")
    os.chmod(tmp, 0o600)  # it holds demo tokens
    os.replace(tmp, target)
    return target


def read_here() -> DevFile | None:
    return read(Path.cwd())


def read(folder: Path) -> DevFile | None:
    """The running deployment described in ``folder``, if any."""
    try:
        data: Any = json.loads(path_in(folder).read_text())
    except (OSError, ValueError):
        return None
    return DevFile.model_validate(data)
