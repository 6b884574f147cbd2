"""Typed settings for moves, read once from ``CELLCHAT_CP_MOVES__*`` (the control plane's ``moves`` group)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MoveSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CELLCHAT_CP_MOVES__")

    freeze_max_lag_seconds: float = Field(default=1.0, gt=0)  # freeze only once the target is this close
    catch_up_seconds: float = Field(default=5.0, gt=0)  # frozen: the target must have everything by then
    poll_seconds: float = Field(default=0.2, gt=0)  # progress and lag are sampled this often
    verify_rounds: int = Field(default=1, ge=1)  # before the freeze, tries for a changing table to match
    retry_seconds: float = Field(default=60.0, gt=0)  # a failing step is retried this long, then the move fails
    handover_attempts: int = Field(default=3, ge=1)
    drain_parallel: int = Field(default=3, ge=1, le=50)
    gc_grace_seconds: float = Field(default=7 * 86_400.0, ge=0)  # the source's old copy is kept this long
