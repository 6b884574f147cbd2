"""Typed settings for one cell, read once from the environment (``CELLCHAT_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseModel):
    dsn: str = "postgresql://postgres@127.0.0.1:5432/cellchat"
    pool_min: int = 2
    pool_max: int = 20


class RedisSettings(BaseModel):
    url: str = "redis://127.0.0.1:6379/0"
    max_connections: int = 200  # per process; callers wait for a free one beyond that
    # Every command of the cell's Redis client is bounded by this: connecting, each read and write,
    # and the wait for a free pooled connection (redis-py's own default is 5 s each). Redis is not
    # the source of truth: a request that needs it answers service_unavailable after this long.
    timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    # The API never waits longer than this on Redis for a rate-limit count; a late or failed
    # answer opens a breaker: counts stay in the process for breaker_seconds (cell/store/ratelimit.py).
    limiter_timeout_seconds: float = 0.25
    breaker_seconds: float = 5.0


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8101
    # Processes serving api.port (SO_REUSEPORT: the kernel spreads connections over them). The
    # first runs the role as asked; the others its API and gateway only, so relay and worker stay
    # single (cell/server.py). 1: the process itself serves.
    workers: int = 1
    max_body_bytes: int = 1_048_576
    max_text_chars: int = 40_000
    # HTTPS on api.port (docs/compliance.md, "Encryption in transit"): PEM certificate (chain) and key.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None


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
    webhook: int = 60  # incoming webhooks: posts a minute per webhook (Slack's 1 a second)...
    webhook_burst: int = 5  # ...with bursts of this many in one second


class SignInSettings(BaseModel):
    """Throttling of /v1/auth/signin: failures within ``window_seconds`` beyond the free ones wait
    1, 2, 4... seconds (up to ``max_wait_seconds``) before another try; per account and per address."""

    window_seconds: int = 900
    free_per_account: int = 5
    free_per_address: int = 20
    max_wait_seconds: int = 900
    # Attempts are the audit of sign-ins: kept this long, then pruned (a bounded batch with each new
    # attempt, so the table stays bounded by its traffic over this period).
    keep_days: int = Field(default=30, ge=1)


class RealtimeSettings(BaseModel):
    """Relay, gateway, presence and typing (docs/realtime.md)."""

    # Web pages (``scheme://host[:port]``) that may open gateway sockets, besides ``files.public_url``.
    # Clients that send no Origin header (SDKs, bots) are always allowed.
    allowed_origins: list[str] = Field(default_factory=list)

    ticket_ttl_seconds: int = 30
    send_queue_max: int = 1000  # frames waiting on one slow socket before it is closed (4002)
    retention_seconds: int = 86_400  # outbox rows kept for resume after publication
    resume_max_events: int = 10_000  # a longer backlog answers resync_required
    catchup_max_events: int = 50_000  # a gateway further behind closes its sockets (4003)
    heartbeat_seconds: float = 30.0
    presence_ttl_seconds: float = 90.0
    presence_batch_seconds: float = 0.5
    typing_debounce_seconds: float = 3.0
    typing_expiry_seconds: float = 5.0
    typing_max_members: int = 1000
    long_poll_timeout_seconds: float = 25.0
    # A revocation is pushed to every gateway at once (Redis); each also asks PostgreSQL this often,
    # the fallback while Redis is away (cell/gateway/revocations.py).
    revocation_poll_seconds: float = Field(default=0.5, gt=0)
    shutdown_grace_seconds: float = 5.0
    relay_batch: int = 500
    relay_poll_seconds: float = 2.0  # safety net under the commit nudges (cell/realtime/wake.py)
    relay_prune_seconds: float = 60.0


class OutboxSettings(BaseModel):
    """Outbox consumers and the worker that runs them (docs/outbox.md)."""

    poll_seconds: float = 2.0  # safety net under LISTEN cell_outbox_numbered
    heartbeat_seconds: float = 10.0
    stall_seconds: float = 300.0  # no progress nor heartbeat for this long: stalled (an alarm)
    skip_after_events: int = 1_000_000  # a stalled consumer further behind is skipped and must resync


class NotifySettings(BaseModel):
    """The notification worker: who is told what, when, and through which adapter (docs/notifications.md)."""

    # A push waits until the person has been inactive on every device for this long (and is
    # cancelled if they read the message meanwhile). 0: push as soon as they are offline.
    push_delay_seconds: float = 120.0
    aggregate_seconds: float = 30.0  # after a push to a conversation, later ones are merged for this long
    push_max_age_seconds: float = 86_400.0  # an unread message older than this is left to the email digest
    push_poll_seconds: float = 0.25  # the sender's safety net under the consumer's wake-up
    push_max_attempts: int = 8  # then the delivery is dead-lettered (state 'dead')
    push_backoff_seconds: float = 1.0  # first retry; doubles up to push_backoff_max_seconds
    push_backoff_max_seconds: float = 300.0
    lease_seconds: float = 30.0  # a delivery in flight this long without an answer is sent again (same key)
    keep_days: float = 7.0  # settled notifications, pushes and digests (dead letters too) are deleted after this
    allow_http_gateways: bool = False  # push gateway URLs must be https unless this is set (tests, dev)
    max_devices_per_user: int = 20
    # Email digests of what people missed while offline for email_after_seconds.
    email_after_seconds: float = 900.0
    email_poll_seconds: float = 10.0
    smtp_host: str | None = None  # None: no email digests
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    mail_from: str = "Cellchat <notifications@cellchat.invalid>"
    # chat.postMessage refuses @here/@channel/@everyone in a conversation with more members than
    # this unless the caller confirms (``confirm_broadcast=true``); 0 turns the check off.
    broadcast_confirm_members: int = 1000
    snooze_poll_seconds: float = 1.0  # how soon after a snooze ends by itself its end is told (dnd_updated)


class SearchSettings(BaseModel):
    """``search.*`` (docs/search.md)."""

    statement_timeout_ms: int = 3000  # no search statement runs longer
    max_matches: int = 200  # matches ranked by score (the newest); totals are always exact
    plan: str = "auto"  # "index" / "walk" force one way of finding matches (tests)
    # Where a match's permalink points: the web client, formatted with domain, channel, ts.
    permalink: str = "https://{domain}.cellchat.invalid/archives/{channel}/p{ts}"


class RetentionSettings(BaseModel):
    """The retention job (docs/compliance.md): how often it runs and how gently it deletes."""

    interval_seconds: float = 3600.0  # between runs (the worker's periodic job)
    batch: int = 500  # rows per transaction
    pause_seconds: float = 0.5  # between batches: live traffic goes first (bench/retention.py, docs/benchmarks.md)
    lock_timeout_ms: int = 2000  # a batch gives up (and the run goes on next time) rather than wait longer
    statement_timeout_ms: int = 10_000


class StorageSettings(BaseModel):
    """The cell's object store (cell.storage): the local filesystem by default, or S3-compatible."""

    backend: Literal["local", "s3"] = "local"
    root: Path = Path("files")  # local: relative to the process's working folder (the cell's data folder)
    bucket: str = "cellchat"  # s3
    prefix: str = ""  # s3: every key under this prefix (several cells may share a bucket)
    endpoint: str | None = None  # s3: an S3-compatible endpoint (None: AWS)
    region: str = "us-east-1"
    access_key_id: SecretStr | None = None  # s3: None takes the environment's AWS credentials
    secret_access_key: SecretStr | None = None
    allow_http: bool = False
    # Envelope encryption of files at rest (docs/compliance.md): the key ring shared by the cells of
    # a deployment (id -> base64 of 32 bytes) and the id that wraps new workspace keys. Unset: the
    # object store's own encryption is relied on (S3 SSE) and objects are stored as they are.
    master_keys: dict[str, SecretStr] = Field(default_factory=dict)
    master_key_id: str | None = None


class FileSettings(BaseModel):
    """Uploads, downloads and previews (docs/files.md)."""

    # The base of the file URLs handed out (the router's public address). Unset, the address the
    # client used is taken: fine in development, but in production set it, so that a forged
    # Host header cannot point other people's downloads (and their tokens) elsewhere.
    public_url: str | None = None
    max_file_bytes: int = 1024**3
    workspace_quota_bytes: int = 100 * 1024**3  # stored bytes per workspace (each distinct content once)
    upload_url_seconds: int = 600  # an upload URL is single-use and expires after this
    signed_url_seconds: int = 300  # signed download and thumbnail URLs
    signing_key: SecretStr | None = None  # HMAC key of signed URLs; None: derived from the admin token
    max_image_pixels: int = 50_000_000  # larger images (decompression bombs) get no thumbnail
    preview_max_bytes: int = 50 * 1024**2  # images above this are not decoded for previews
    # The worker also looks this often for previews still pending that long: those whose event
    # is not in this cell's outbox (a workspace that moved in mid-way) or was lost.
    preview_sweep_seconds: float = Field(default=30.0, gt=0)


class EgressSettings(BaseModel):
    """Outbound HTTP to apps (cell.egress, docs/integrations.md): the SSRF guard and its limits."""

    # Networks apps may be reached on although they are loopback, private or link-local (CIDRs).
    # Empty in production; ``cellctl dev up`` and the tests allow loopback.
    allowed_networks: list[str] = Field(default_factory=list)
    timeout_seconds: float = 3.0  # Slack's: an answer later than this is a failed delivery
    max_response_bytes: int = 65_536
    max_connections: int = 100


class EventsSettings(BaseModel):
    """Events API, Socket Mode and slash commands (docs/integrations.md)."""

    retry_base_seconds: float = 1.0  # failed deliveries wait base * 2^n (full jitter) ...
    retry_cap_seconds: float = 60.0  # ... up to this, until they succeed or the app is disabled
    disable_after_seconds: float = 3600.0  # an app failing every delivery this long is disabled
    lease_seconds: float = 15.0  # a delivery claimed by a sender that died is taken again after this
    ack_timeout_seconds: float = 3.0  # a Socket Mode envelope unacked this long is sent again
    socket_max_unacked: int = 3  # a Socket Mode connection leaving this many unacked is told to go
    socket_refresh_seconds: float = 7200.0  # connections get ``disconnect: refresh_requested`` after this
    socket_ticket_seconds: int = 30
    senders: int = 16  # deliveries in flight per worker process ...
    per_app_senders: int = Field(default=4, ge=1)  # ... and of one app (a slow app leaves the rest to others)
    response_url_uses: int = 5  # a slash command's response_url works this many times ...
    response_url_seconds: int = 1800  # ... within this long


class CellSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CELLCHAT_", env_nested_delimiter="__")

    name: str = "local-1"
    region: str = "local"
    admin_token: SecretStr = SecretStr("dev-admin-token")  # refused at start unless ``dev`` (below)
    dev: bool = False  # a developer's own machine: the built-in admin token is accepted
    gateway_url: str | None = None
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    sign_in: SignInSettings = Field(default_factory=SignInSettings)
    realtime: RealtimeSettings = Field(default_factory=RealtimeSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)


    storage: StorageSettings = Field(default_factory=StorageSettings)
    files: FileSettings = Field(default_factory=FileSettings)
    egress: EgressSettings = Field(default_factory=EgressSettings)
    events: EventsSettings = Field(default_factory=EventsSettings)
