"""The cell's one error tree and the catalogue of the Slack error codes it answers with.

    CellError                 stable ``code`` (a Slack error code) + HTTP status
    ├── RateLimited           429, carries Retry-After
    ├── RequestTooLarge       413
    ├── WorkspaceMoved        421, names the cell that owns the workspace now
    ├── WorkspaceFrozen       503, retryable: the workspace is being moved
    └── ServiceUnavailable    503, retryable: Redis does not answer (rtm.connect)

Handlers, actions and stores raise these with a plain string; ``SlackErrorCode``
lists every code the cell may answer with, so mypy rejects a misspelt one.
One exception handler in ``cell.api.app`` (and the gateway's HTTP routes, which
use the same response helper) turns them into Slack's ``{"ok": false, "error": code}``.
WebSocket close codes are a separate set owned by the gateway's wire format;
nothing maps one onto the other.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

SlackErrorCode = Literal[
    # authentication and authorisation
    "account_inactive",
    "invalid_auth",
    "missing_scope",
    "not_allowed",
    "not_allowed_token_type",
    "not_authed",
    "not_authorized",
    "token_not_found",
    "token_revoked",
    # the request itself
    "internal_error",
    "invalid_arguments",
    "invalid_cursor",
    "invalid_form_data",
    "invalid_json",
    "invalid_presence",
    "invalid_state",
    "bad_timestamp",
    "invalid_timestamp",
    "invalid_ts_latest",
    "invalid_ts_oldest",
    "invalid_types",
    "no_item_specified",
    "ratelimited",
    "request_too_large",
    "unknown_method",
    # where the workspace lives
    "region_mismatch",
    "team_not_found",
    "workspace_frozen",
    "workspace_moved",
    # conversations
    "already_archived",
    "already_in_channel",
    "cant_archive_general",
    "cant_invite_self",
    "cant_kick_from_general",
    "cant_kick_self",
    "cant_leave_general",
    "channel_not_found",
    "invalid_name",
    "invalid_name_maxlength",
    "invalid_name_punctuation",
    "invalid_name_required",
    "invalid_name_specials",
    "is_archived",
    "last_member",
    "method_not_supported_for_channel_type",
    "name_taken",
    "not_archived",
    "not_in_channel",
    "too_long",
    # messages, threads, reactions, pins
    "already_pinned",
    "already_reacted",
    "cant_delete_message",
    "cant_update_message",
    "message_not_found",
    "msg_too_long",
    "service_unavailable",
    "invalid_blocks",
    "invalid_attachments",
    "too_many_attachments",
    "no_pin",
    "no_reaction",
    "no_text",
    "thread_not_found",
    "broadcast_confirmation_required",  # @here/@channel in a large conversation, not confirmed
    # push devices (docs/notifications.md)
    "device_not_found",
    "invalid_app_id",
    "invalid_pushkey",
    "invalid_url",
    "too_many_devices",
    # files
    "cant_delete_file",
    "file_not_found",
    "file_too_large",
    "file_uploading",
    "invalid_length",
    "invalid_signature",
    "invalid_upload_url",
    "storage_limit_reached",
    "upload_url_used",
    # exports and imports (docs/compliance.md)
    "export_not_found",
    "link_expired",
    # search
    "no_query",
    "request_timeout",
    # compliance: legal holds, retention
    "hold_exists",
    "hold_not_found",
    # apps and incoming webhooks
    "app_not_found",
    "bot_not_found",
    "invalid_scope",
    "webhook_not_found",
    # notifications: preferences, do not disturb, thread subscriptions
    "invalid_dnd_window",
    "invalid_duration",
    "invalid_pref_value",
    "invalid_timezone",
    "missing_duration",
    "no_users_provided",
    "read_only_pref",
    "snooze_not_active",
    "unknown_pref",
    # people
    "email_taken",
    "no_user",
    "too_many_users",
    "user_not_found",
    "user_not_in_channel",
    "users_list_not_supplied",
    "users_not_found",
    # Events API, Socket Mode, slash commands (docs/integrations.md)
    "expired_url",
    "invalid_command",
    "invalid_event_type",
    "no_service",
    "url_verification_failed",
    "used_url",
]

SLACK_ERROR_CODES: frozenset[str] = frozenset(get_args(SlackErrorCode))


class CellError(Exception):
    status = 200

    def __init__(self, code: SlackErrorCode, *, detail: str | None = None, **extra: Any) -> None:
        super().__init__(code if detail is None else f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.code, **self.extra}
        if self.detail:
            body["response_metadata"] = {"messages": [f"[ERROR] {self.detail}"]}
        return body


class RateLimited(CellError):
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("ratelimited")
        self.retry_after = retry_after


class RequestTooLarge(CellError):
    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__("request_too_large", detail=f"body exceeds {limit} bytes")


class WorkspaceMoved(CellError):
    status = 421

    def __init__(self, workspace_id: str, cell: str | None) -> None:
        super().__init__("workspace_moved", workspace=workspace_id, cell=cell)


class WorkspaceFrozen(CellError):
    status = 503

    def __init__(self, workspace_id: str) -> None:
        super().__init__("workspace_frozen", detail="workspace is moving; retry shortly", workspace=workspace_id)


class ServiceUnavailable(CellError):
    """503, retryable: a dependency that is not the source of truth (Redis) does not answer."""

    status = 503

    def __init__(self, detail: str) -> None:
        super().__init__("service_unavailable", detail=detail)
