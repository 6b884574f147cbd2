"""Typed settings for the control plane, read once from the environment (``CELLCHAT_CP_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Role = Literal["sre", "compliance", "viewer"]


class DatabaseSettings(BaseModel):
    dsn: str = "postgresql://postgres@127.0.0.1:5432/catalog"
    pool_min: int = 1
    pool_max: int = 10
    migrate_on_start: bool = True


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8099
    max_body_bytes: int = 1_048_576
    # HTTPS on api.port: PEM certificate (chain) and key (cellctl trusts a private CA with --ca-file).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None


class AdminToken(BaseModel):
    """Who may call the control plane, as whom (``name`` goes into the audit log), and with which roles."""

    name: str = Field(min_length=1)
    roles: list[Role] = Field(min_length=1)
    token: SecretStr
    # The workspaces this token may read and act on (None: every one): one customer's compliance
    # officer or operator. Actions across workspaces (cells, routing table, drains, audit log) refuse it.
    workspaces: list[str] | None = None


class PlacementSettings(BaseModel):
    max_fullness: float = Field(default=0.9, gt=0, le=1)


class KubernetesProvisioningSettings(BaseModel):
    """The ``kubernetes`` backend: one Helm release of the cell chart per cell, in its own namespace."""

    chart: Path = Path("charts/cell")  # the cell chart (the image ships it at /app/charts/cell)
    namespace_prefix: str = "cellchat-"  # a cell's namespace is <prefix><cell name>
    kubeconfig: Path | None = None  # None: KUBECONFIG, ~/.kube/config, then the pod's service account
    context: str | None = None
    apiserver: str | None = None  # overrides the kubeconfig's API server address
    # Where the control plane reaches a cell's API (it runs in the cluster: the api Service).
    api_url: str = "http://{release}-api.{namespace}.svc:{port}"
    ready_timeout: float = 600.0  # Helm's wait for the release's pods, then the cell's own /v1/health


class ProvisioningSettings(BaseModel):
    state_dir: Path = Path(".cellchat/cells")  # local backend: one folder per cell
    owner_pid: int | None = None  # local backend: cells stop when this process ends (default: us)
    free_ports: bool = False
    ready_timeout: float = 180.0  # local cells: first start runs initdb
    endpoints_ready_timeout: float = 30.0  # adopted cells: they should already be up
    cell_env: dict[str, str] = Field(default_factory=dict)  # extra CELLCHAT_* for local cells
    kubernetes: KubernetesProvisioningSettings = Field(default_factory=KubernetesProvisioningSettings)


class RoutingSettings(BaseModel):
    heartbeat_seconds: float = 10.0  # the push stream says "still here" this often


class MoveSettings(BaseModel):
    """How moves pace and bound themselves (``CELLCHAT_CP_MOVES__*``)."""

    freeze_max_lag_seconds: float = Field(default=1.0, gt=0)  # freeze only once the target is this close
    catch_up_seconds: float = Field(default=5.0, gt=0)  # frozen: the target must have everything by then
    poll_seconds: float = Field(default=0.2, gt=0)  # progress and lag are sampled this often
    verify_rounds: int = Field(default=1, ge=1)  # before the freeze, tries for a changing table to match
    retry_seconds: float = Field(default=60.0, gt=0)  # a failing step is retried this long, then the move fails
    handover_attempts: int = Field(default=3, ge=1)
    drain_parallel: int = Field(default=3, ge=1, le=50)
    gc_grace_seconds: float = Field(default=7 * 86_400.0, ge=0)  # the source's old copy is kept this long
    # The CA file, on the target cells' PostgreSQL servers, that verifies the source's server certificate
    # when a move subscribes over TLS (a source DSN with sslmode=require/verify-ca/verify-full); None:
    # the sslrootcert of the source DSN itself (docs/moves.md, "TLS").
    subscription_sslrootcert: str | None = None


class ComplianceSettings(BaseModel):
    """Legal holds, retention and residency reports (docs/compliance.md)."""

    # The Ed25519 key that signs residency reports: PEM (PKCS#8) or base64 of the 32 raw bytes.
    # Its public half is published at /v1/audit/public-key. None: reports are refused unsigned.
    signing_key: SecretStr | None = None
    collect_seconds: float = Field(default=60.0, gt=0)  # cells' retention records -> the audit log


class ControlPlaneSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CELLCHAT_CP_", env_nested_delimiter="__")

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    tokens: list[AdminToken] = Field(default_factory=list)
    cell_admin_token: SecretStr = SecretStr("dev-admin-token")  # what cells accept as their admin token
    dev: bool = False  # a developer's own machine: built-in or empty tokens are accepted
    placement: PlacementSettings = Field(default_factory=PlacementSettings)
    provisioning: ProvisioningSettings = Field(default_factory=ProvisioningSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    moves: MoveSettings = Field(default_factory=MoveSettings)
    compliance: ComplianceSettings = Field(default_factory=ComplianceSettings)
