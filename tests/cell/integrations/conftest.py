from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.infra import Infra
from tests.support.integrations import Stack, stack


@pytest.fixture(scope="package")
def deployed(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One deployment (control plane, a cell with every role, router) for the package's tests;
    each test makes its own workspace and apps."""
    with stack(infra, tmp_path_factory.mktemp("integrations")) as running:
        yield running
