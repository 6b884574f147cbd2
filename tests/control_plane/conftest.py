from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.control_plane import (
    Deployment,
    RunningControlPlane,
    deployment,
    running_control_plane,
)
from tests.support.infra import Infra


@pytest.fixture
def cp(infra: Infra) -> Iterator[RunningControlPlane]:
    """A real control plane over a fresh, empty catalog."""
    with running_control_plane(infra) as running:
        yield running


@pytest.fixture
def regions(infra: Infra) -> Iterator[Deployment]:
    """A control plane with two active cells: us-1 (region us) and eu-1 (region eu)."""
    with deployment(infra, {"us-1": "us", "eu-1": "eu"}) as running:
        yield running
