"""Typed settings for one cell, read once from the environment (``CELLCHAT_*``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseModel):
    dsn: str = "postgresql://postgres@127.0.0.1:5432/cellchat"
    pool_min: int = 2
    pool_max: int = 20


class RedisSettings(BaseModel):
    url: str = "redis://127.0.0.1:6379/0"


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8101
    max_body_bytes: int = 1_048_576
    max_text_chars: int = 40_000


class RateLimitSettings(BaseModel):
    """Requests per window (a minute by default) per token for Slack's tiers;
    ``enabled=False`` for benchmarks."""

    enabled: bool = True
    window_seconds: int = 60
    tier1: int = 20
    tier2: int = 60
    tier3: int = 200
    tier4: int = 600
    post: int = 3000  # chat.postMessage: Slack's "special" tier, per token


class CellSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CELLCHAT_", env_nested_delimiter="__")

    name: str = "local-1"
    region: str = "local"
    admin_token: SecretStr = SecretStr("dev-admin-token")
    gateway_url: str | None = None
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
