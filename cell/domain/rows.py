"""The shapes of the rows the stores return and take (pure types, no I/O).

Each is a ``TypedDict`` naming the columns of a store's queries, so mypy catches
a misspelt column wherever a row is read. At run time a row is still the plain
dict psycopg's ``dict_row`` builds, so actions may add to it (``is_member``,
``num_members``, …) before the domain turns it into Slack's shape; those keys
are the ``NotRequired`` ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict

from cell.domain.audience import AudienceKind

ChannelKind = Literal["public", "private", "im", "mpim"]
WorkspaceStatus = Literal["active", "frozen", "moved"]
TokenKind = Literal["xoxp", "xoxb", "xapp"]
ConsumerState = Literal["active", "stalled", "skipped"]


# --- channels --------------------------------------------------------------------


class NewChannel(TypedDict):
    """What ``channels.insert_channel`` / ``insert_dm`` write."""

    workspace_id: str
    channel_id: str
    kind: ChannelKind
    name: str
    creator: str
    dm_key: str | None


class ChannelRow(NewChannel):
    """A channel (``channels.CHANNEL_COLUMNS``), with what a query or an action adds for one member."""

    topic: str
    topic_creator: str
    topic_last_set: int
    purpose: str
    purpose_creator: str
    purpose_last_set: int
    is_archived: bool
    last_ts: int
    created: int
    # The caller's member columns (a LEFT JOIN: None where they are not a member).
    is_member: NotRequired[bool]
    last_read: NotRequired[int | None]
    is_open: NotRequired[bool | None]
    # Counts that a listing or an action adds.
    num_members: NotRequired[int]
    unread_count: NotRequired[int]
    unread_count_display: NotRequired[int]


# --- messages and what hangs off them --------------------------------------------


class _MessageColumns(TypedDict):
    """The columns a message is written with and read back with."""

    workspace_id: str
    channel_id: str
    ts: int
    user_id: str
    bot_id: str | None
    subtype: str | None
    text: str
    blocks: Any
    attachments: Any
    thread_ts: int | None
    reply_broadcast: bool
    client_msg_id: str | None


class NewMessage(_MessageColumns):
    """What ``messages.insert`` writes."""

    files: NotRequired[list[str] | None]  # ids of the files the message carries
    bot: NotRequired[dict[str, Any] | None]  # an app's message: app_id, bot_profile (cell.domain.apps)


class MessageRow(_MessageColumns):
    """A message (``messages.MESSAGE_COLUMNS``); ``blocks`` and ``attachments`` are decoded JSON."""

    reply_count: int
    reply_users: list[str]
    latest_reply: int | None
    edited_ts: int | None
    edited_by: str | None
    files: list[Any] | None  # file ids; cell.actions.files puts file objects in their place
    parent_user_id: str | None
    bot: NotRequired[dict[str, Any] | None]  # app_id, bot_profile, webhook overrides (merged as is)
    # ``messages.pins`` adds who pinned it and when (unix seconds).
    pinned_by: NotRequired[str]
    pinned: NotRequired[int]


class ReactionRow(TypedDict):
    ts: int
    name: str
    user_id: str


class PinRow(TypedDict):
    pinned_by: str
    created: int


# --- workspaces, people, tokens --------------------------------------------------


class WorkspaceRow(TypedDict):
    workspace_id: str
    name: str
    domain: str
    region_pin: str | None
    status: WorkspaceStatus
    moved_to: str | None
    created_at: datetime
    # ``directory.get_workspace`` adds whether a move is still copying it here.
    incoming: NotRequired[bool]


class RegionPinRow(TypedDict):
    """What ``control.set_region_pin`` answers with."""

    workspace_id: str
    region_pin: str | None
    status: WorkspaceStatus


class _PersonColumns(TypedDict):
    """The columns a person or bot is written with and read back with."""

    workspace_id: str
    user_id: str
    email: str
    name: str
    real_name: str
    is_admin: bool
    is_owner: bool
    is_bot: bool
    bot_id: str | None


class NewUser(_PersonColumns):
    """What ``directory.insert_user`` writes."""

    password_hash: str | None


class UserRow(_PersonColumns):
    """A person or bot (``directory.USER_COLUMNS``)."""

    deleted: bool
    tz: str
    created: int
    # Only ``directory.get_user_by_email`` reads it (sign-in).
    password_hash: NotRequired[str | None]


class AuthRow(TypedDict):
    """A token with its person and workspace: what verifying a token needs (``directory.token_for_auth``)."""

    user_id: str
    kind: TokenKind
    secret_hash: str
    revoked: bool
    is_admin: bool
    is_owner: bool
    is_bot: bool
    bot_id: str | None
    deleted: bool
    user_name: str
    team_name: str
    domain: str
    workspace_status: WorkspaceStatus
    moved_to: str | None
    incoming: bool
    # The scopes the token holds and, for an app's token, its app (cell.domain.scopes, apps).
    scopes: list[str]
    app_id: str | None
    app_name: str | None
    app_icon_url: str | None
    app_updated: int | None


# --- apps and incoming webhooks --------------------------------------------------


class NewApp(TypedDict):
    """What ``apps.insert_app`` writes."""

    workspace_id: str
    app_id: str
    name: str
    bot_user_id: str
    bot_id: str
    signing_secret: str
    bot_scopes: list[str]
    user_scopes: list[str]
    icon_url: str
    created_by: str


class AppRow(NewApp):
    """An app (``apps.APP_COLUMNS``)."""

    installed: bool
    created: int
    updated: int


class AppTokenRow(TypedDict):
    """One token of an app (``apps.app_tokens``)."""

    token_id: str
    kind: TokenKind
    user_id: str
    scopes: list[str]
    revoked: bool


class WebhookRow(TypedDict):
    """An incoming webhook with what posting through it needs (``apps.webhook``)."""

    workspace_id: str
    webhook_id: str
    app_id: str
    channel_id: str
    secret_hash: str
    created_by: str
    revoked: bool
    created: int
    # its app, at the time of the query
    app_name: str
    app_installed: bool
    bot_user_id: str
    bot_id: str
    icon_url: str
    app_updated: int


# --- the outbox and its readers --------------------------------------------------


class EventRow(TypedDict):
    """A numbered outbox row, as the relay, the gateways and the consumers read it."""

    position: int
    workspace_id: str
    audience: AudienceKind
    channel_id: str | None
    event_type: str
    payload: dict[str, Any]


class RealtimeStateRow(TypedDict):
    epoch: str
    last_position: int
    pruned_through: int


class MembershipRow(TypedDict):
    workspace_id: str
    user_id: str
    channel_id: str


class ConsumerRow(TypedDict):
    """A named outbox consumer (``outbox_consumers``)."""

    name: str
    position: int
    state: ConsumerState
    heartbeat_at: datetime | None
    skipped_at: datetime | None
    skipped_position: int | None
    resyncs: int


class ResyncedRow(TypedDict):
    position: int
    skipped_after: int  # the position it was skipped at (set whenever a consumer is skipped)
    resyncs: int


class StalledRow(TypedDict):
    name: str
    position: int


class SkippedRow(TypedDict):
    name: str
    position: int
    lag: int


class ConsumerReportRow(TypedDict):
    name: str
    state: ConsumerState
    position: int
    lag: int
    holding: bool
