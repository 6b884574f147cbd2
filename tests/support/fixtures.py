"""Fixtures that several test modules use, registered for the whole suite in ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.cells import RunningCell, Workspace
from tests.support.chat import Scene, shared_scene
from tests.support.infra import Infra


@pytest.fixture
def ws(cell: RunningCell) -> Workspace:
    """A fresh workspace (its owner and #general) on the test's own cell."""
    return cell.workspace()


@pytest.fixture(scope="module")
def scene(infra: Infra) -> Iterator[Scene]:
    """One cell and ``Scene`` per test module, for calls that must change nothing (``chat.shared_scene``)."""
    with shared_scene(infra) as built:
        yield built
