from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.control_plane import Deployment, deployment
from tests.support.infra import Infra
from tests.support.router import RunningRouter, running_router


@dataclass
class Routed:
    """Two cells (us-1, eu-1) behind a control plane and a router."""

    deployment: Deployment
    router: RunningRouter
    state_file: Path


@pytest.fixture
def routed(infra: Infra, tmp_path: Path) -> Iterator[Routed]:
    with deployment(infra, {"us-1": "us", "eu-1": "eu"}) as dep:
        state = tmp_path / "routes.json"
        with running_router(dep.control_plane.url, state) as router:
            yield Routed(dep, router, state)
