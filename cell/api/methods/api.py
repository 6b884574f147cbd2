"""``api.test``."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from cell.api.registry import Args, Context, method
from cell.errors import CellError


class EchoArgs(Args):
    model_config = ConfigDict(extra="allow")


@method("api.test", EchoArgs, tier="tier4")
async def api_test(ctx: Context, args: EchoArgs) -> dict[str, Any]:
    echoed = {k: v for k, v in (args.model_extra or {}).items() if k != "token" and isinstance(v, str)}
    if "error" in echoed:
        raise CellError(echoed["error"])
    return {"args": echoed} if echoed else {}
