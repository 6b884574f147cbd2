"""``cellctl``'s own config file: named contexts (like a kubeconfig), so one ``cellctl`` operates
several deployments.

``$CELLCTL_CONFIG``, else ``~/.config/cellctl/config.yaml``::

    current-context: prod-eu
    contexts:
      - name: prod-eu
        control-plane: https://cp.eu.example.com
        token-file: ~/.config/cellctl/prod-eu.token   # or token-env: PROD_EU_TOKEN
      - name: staging
        control-plane: https://cp.staging.example.com
        token-env: STAGING_TOKEN

A token is read from a file (mode 0600) or an environment variable, never stored in the config.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

CONFIG_ENV, CONTEXT_ENV = "CELLCTL_CONFIG", "CELLCTL_CONTEXT"


class Context(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    control_plane: str = Field(alias="control-plane", pattern=r"^https?://\S+$")
    token_file: str | None = Field(default=None, alias="token-file")
    token_env: str | None = Field(default=None, alias="token-env")
    ca_file: str | None = Field(default=None, alias="ca-file")  # a private CA the control plane's certificate chains to

    def token(self) -> str | None:
        if self.token_env:
            return os.environ.get(self.token_env)
        if self.token_file:
            try:
                return Path(self.token_file).expanduser().read_text().strip() or None
            except OSError:
                return None
        return None


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    current_context: str | None = Field(default=None, alias="current-context")
    contexts: list[Context] = Field(default_factory=list)

    def context(self, name: str) -> Context | None:
        return next((c for c in self.contexts if c.name == name), None)


class ConfigError(Exception):
    pass


def path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or Path.home() / ".config" / "cellctl" / "config.yaml")


def load() -> Config:
    """The config file, or an empty config when there is none."""
    try:
        text = path().read_text()
    except FileNotFoundError:
        return Config()
    except OSError as exc:
        raise ConfigError(f"cannot read {path()}: {exc.strerror}") from exc
    try:
        data: Any = yaml.safe_load(text) or {}
        return Config.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"{path()} is not a valid cellctl config: {exc}") from exc


def save(config: Config) -> Path:
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config.model_dump(by_alias=True, exclude_none=True), sort_keys=False))
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)
    return target
