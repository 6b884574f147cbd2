"""cells.yaml parsing: valid files load; every bad file names the key and line at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from control_plane.inventory import InventoryError, parse, to_yaml

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
version: 1
cells:
  - name: us-1
    region: us
    capacity: {workspaces: 10}
    local: {api_port: 8101}
  - name: eu-2
    region: eu
    capacity:
      workspaces: 20
    endpoints:
      api: https://eu-2.example.com
      gateway: wss://eu-2.example.com/rtm
"""


def where(text: str) -> tuple[int | None, str | None]:
    with pytest.raises(InventoryError) as caught:
        parse(text)
    return caught.value.line, caught.value.key


def test_repository_inventory_declares_a_local_cell_in_us_and_in_eu() -> None:
    """The repository's cells.yaml (what `cellctl dev up` runs) has one local cell per region us, eu."""
    inventory = parse((REPO / "cells.yaml").read_text())
    assert [("us", "local"), ("eu", "local")] == [(c.region, c.backend) for c in inventory.cells]


def test_round_trip_through_yaml() -> None:
    """to_yaml writes what parse reads back unchanged."""
    inventory = parse(GOOD)
    assert inventory == parse(to_yaml(inventory))


def test_wrong_type_names_key_and_line() -> None:
    """`region: no` (YAML's false) is refused at its own line and key."""
    assert (4, "cells[0].region") == where(GOOD.replace("region: us", "region: no"))


def test_unknown_key_names_key_and_line() -> None:
    """An unknown key is refused where it stands."""
    text = GOOD.replace("    local: {api_port: 8101}\n", "    local: {api_port: 8101}\n    zone: a\n")
    assert (7, "cells[0].zone") == where(text)


def test_missing_key_names_its_parent() -> None:
    """A missing capacity is reported at the cell that lacks it."""
    assert (3, "cells[0].capacity") == where(GOOD.replace("    capacity: {workspaces: 10}\n", ""))


def test_bad_url_names_nested_key() -> None:
    """A gateway URL that is not ws(s):// is refused at its line."""
    assert (13, "cells[1].endpoints.gateway") == where(GOOD.replace("wss://eu-2", "https://eu-2"))


def test_both_local_and_endpoints_is_refused() -> None:
    """A cell is either local or has endpoints, never both."""
    text = GOOD.replace("    local: {api_port: 8101}\n", "    local: {}\n    endpoints: {api: 'http://a', gateway: 'ws://a'}\n")
    assert (3, "cells[0]") == where(text)


def test_duplicate_key_is_refused() -> None:
    """A key given twice in one mapping is refused at the second occurrence (YAML would keep the last)."""
    assert (5, "cells[0].region") == where(GOOD.replace("    region: us\n", "    region: us\n    region: eu\n"))


def test_duplicate_cell_name_is_refused() -> None:
    """Two cells with one name are refused at the second name."""
    assert (7, "cells[1].name") == where(GOOD.replace("name: eu-2", "name: us-1"))


def test_syntax_error_names_the_line() -> None:
    """Broken YAML is refused with the line of the problem."""
    assert (5, None) == where(GOOD.replace("capacity: {workspaces: 10}", "capacity: {workspaces: 10}}"))


def test_wrong_version_is_refused() -> None:
    """Only version 1 exists."""
    assert (1, "version") == where(GOOD.replace("version: 1", "version: 2"))


def test_message_reads_file_line_key() -> None:
    """The message has the form <file>:<line>: <key>: <problem>."""
    with pytest.raises(InventoryError) as caught:
        parse(GOOD.replace("capacity: {workspaces: 10}", "capacity: {workspaces: 0}"), "prod.yaml")
    assert str(caught.value).startswith("prod.yaml:5: cells[0].capacity.workspaces: ")
