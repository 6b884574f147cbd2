from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from click.testing import Result
from typer.testing import CliRunner

from cli.main import app
from tests.support.control_plane import OPERATOR, Deployment, deployment
from tests.support.infra import Infra


@dataclass
class Cellctl:
    """``cellctl`` pointed at a real control plane (two active cells: us-1, eu-1)."""

    deployment: Deployment
    runner: CliRunner

    def __call__(self, *args: str, token: str = OPERATOR, input: str | None = None) -> Result:
        return self.runner.invoke(app, ["--control-plane", self.deployment.control_plane.url, "--token", token,
                                        *args], input=input, env={"COLUMNS": "200"})


@pytest.fixture
def cellctl(infra: Infra) -> Iterator[Cellctl]:
    with deployment(infra, {"us-1": "us", "eu-1": "eu"}) as dep:
        yield Cellctl(dep, CliRunner())
