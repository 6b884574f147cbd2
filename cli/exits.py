"""``cellctl`` exit codes (documented in ``cellctl --help``)."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    FAILED = 1          # the operation failed (the control plane says why)
    USAGE = 2           # bad command line (typer/click's own code)
    NOT_FOUND = 3       # unknown cell or workspace
    REFUSED = 4         # refused by policy: no capacity, region, pin, state
    BAD_INPUT = 5       # invalid input file or value (e.g. cells.yaml)
    DENIED = 6          # missing or insufficient credentials
    UNREACHABLE = 7     # the control plane does not answer
    ABORTED = 10        # a confirmation was declined


HELP = (
    "Exit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 refused by policy, 5 bad input, "
    "6 denied, 7 control plane unreachable, 10 aborted at a confirmation."
)
