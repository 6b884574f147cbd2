"""``decimal``: the one way we read a number a stranger wrote."""

from __future__ import annotations

import pytest

from cell.domain.numbers import decimal


@pytest.mark.parametrize(("raw", "number"), [("0", 0), ("42", 42), ("007", 7), ("9" * 18, 10**18 - 1)])
def test_ascii_digits_are_numbers(raw: str, number: int) -> None:
    assert number == decimal(raw)


@pytest.mark.parametrize("raw", [None, "", "²", "١٢", "12 ", " 12", "+1", "-1", "1_000", "1.0", "9" * 19, "12\u00a0"])
def test_anything_else_is_none(raw: str | None) -> None:
    """Including what ``str.isdigit`` accepts (``"²"``) and what ``int`` accepts (``"١٢"``, spaces, ``_``)."""
    assert decimal(raw) is None
