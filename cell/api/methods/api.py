"""``api.test``."""

from __future__ import annotations

from typing import Any, cast

from pydantic import ConfigDict

from cell.api.registry import Args, Context, method
from cell.errors import CellError, SlackErrorCode


class EchoArgs(Args):
    model_config = ConfigDict(extra="allow")


@method("api.test", EchoArgs, tier="tier4")
async def api_test(ctx: Context, args: EchoArgs) -> dict[str, Any]:
    echoed = {k: v for k, v in (args.model_extra or {}).items() if k != "token" and isinstance(v, str)}
    if "error" in echoed:
        # api.test answers with whatever code it is asked for, in the catalogue or not.
        raise CellError(cast(SlackErrorCode, echoed["error"]))
    return {"args": echoed} if echoed else {}
