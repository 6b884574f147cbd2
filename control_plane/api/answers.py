"""The shapes of the control plane's answers, for its OpenAPI document.

Every refusal is ``Refusal`` (``control_plane.errors``: a stable code, a message for humans, and
the error's own details such as the ``line`` and ``key`` of a bad inventory). Successful answers
are still described by the generic envelope only (``cell.api.openapi.ENVELOPE``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12


@with_config(ConfigDict(extra="allow"))
class Refusal(TypedDict):
    """``{"ok": false, "error": code, "message": why}``, plus the details some errors carry."""

    ok: Literal[False]
    error: str
    message: str
