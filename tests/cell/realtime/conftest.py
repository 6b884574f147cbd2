from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.cells import RunningCell, running_cell
from tests.support.infra import Infra


@pytest.fixture
def cell(infra: Infra) -> Iterator[RunningCell]:
    """A real cell with its real-time parts: API, gateway at /rtm and relay in one process."""
    with running_cell(infra, role="all") as running:
        yield running
