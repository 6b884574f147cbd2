"""A drained cell is no one-way door: drain, ``dev up`` again, undrain; and ``dev up`` never
drains a cell on its own (a file that leaves a cell out is refused without a yes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.devup import DevUp, cellctl, leftovers

ONE = "version: 1\ncells:\n  - name: solo-1\n    region: us\n    capacity: {workspaces: 10}\n    local: {}\n"
NONE = "version: 1\ncells: []\n"


@dataclass
class Story:
    drained: dict[str, Any] = field(default_factory=dict)  # `cells drain` answer (json)
    refused_code: int | None = None  # `dev up -f none.yaml` without a terminal
    refused_log: str = ""
    restarted: dict[str, Any] = field(default_factory=dict)  # dev.json of the run after the drain
    status_before_drain: str = ""  # the run after the refusal: nothing was drained
    status_after_restart: str = ""
    undrained: dict[str, Any] = field(default_factory=dict)
    status_after_undrain: str = ""
    listed_with_flag_after: str = ""
    exit_codes: list[int] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    log: str = ""  # every run's output, one after the other


def _status(folder: Path) -> str:
    done = cellctl(folder, "-o", "json", "cells", "show", "solo-1")  # a global flag before the subcommand
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["status"])


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    folder: Path = tmp_path_factory.mktemp("devup-drain")
    (folder / "one.yaml").write_text(ONE)
    (folder / "none.yaml").write_text(NONE)
    told = Story()
    first = DevUp(folder, "-f", "one.yaml", "--no-seed")
    try:
        first.start()
    finally:
        told.exit_codes.append(first.interrupt())

    refused = DevUp(folder, "-f", "none.yaml", "--no-seed")
    try:
        with pytest.raises(RuntimeError) as exited:
            refused.start()
    finally:
        refused.interrupt()
    assert refused.proc is not None
    told.refused_code = refused.proc.returncode
    told.refused_log = str(exited.value)

    second = DevUp(folder, "-f", "one.yaml", "--no-seed")
    try:
        second.start()
        told.status_before_drain = _status(folder)
        drained = cellctl(folder, "cells", "drain", "solo-1", "--yes", "--no-wait", "-o", "json")
        assert drained.returncode == 0, drained.stderr
        told.drained = json.loads(drained.stdout)
    finally:
        told.exit_codes.append(second.interrupt())

    again = DevUp(folder, "-f", "one.yaml", "--no-seed")
    try:
        told.restarted = again.start()
        told.status_after_restart = _status(folder)
        undrained = cellctl(folder, "cells", "undrain", "solo-1", "--reason", "refresh done", "-o", "json")
        assert undrained.returncode == 0, undrained.stderr
        told.undrained = json.loads(undrained.stdout)
        told.status_after_undrain = _status(folder)
        listed = cellctl(folder, "cells", "list", "-o", "wide")
        told.listed_with_flag_after = listed.stdout
    finally:
        told.exit_codes.append(again.interrupt())
    told.left = leftovers(folder)
    told.log = (folder / "devup.log").read_text()
    yield told


def test_a_drained_cell_starts_again_with_dev_up(story: Story) -> None:
    """After a drain, a second ``dev up`` starts (it used to fail: the cell was not provisionable),
    says the cell is drained, and leaves it drained."""
    assert [c["name"] for c in story.restarted["cells"]] == ["solo-1"]
    assert story.status_after_restart == "drained"
    assert "cell solo-1 is drained" in story.log


def test_undrain_makes_the_cell_active_again(story: Story) -> None:
    """``cellctl cells undrain`` (kubectl's uncordon): drained -> active, recorded with its reason."""
    assert (story.undrained["changed"], story.undrained["from"], story.status_after_undrain) == (
        True, "drained", "active")
    assert "solo-1" in story.listed_with_flag_after and "active" in story.listed_with_flag_after


def test_dev_up_never_drains_a_cell_on_its_own(story: Story) -> None:
    """A file that no longer declares solo-1: without a terminal to ask, dev up refuses and says
    why; the cell is still there and drained (not changed), as the run after it shows."""
    assert story.refused_code == 1
    assert "not draining solo-1" in story.refused_log and "--yes" in story.refused_log
    assert story.status_before_drain == "active"


def test_every_run_stopped_cleanly(story: Story) -> None:
    """Each Ctrl-C exits 0 and nothing is left running from the folder."""
    assert (story.exit_codes, story.left) == ([0, 0, 0], [])
