"""Which tables hold a workspace's data: what a move copies and what clean-up deletes.

Every table listed leads its primary key with ``workspace_id``. A workspace's file bytes
live in the object store under ``cell.storage.workspace_prefix``: they move and go with it. ``outbox`` is the
cell's delivery log, not workspace data: it is not moved (clients of a moved
workspace resync against their new cell).
"""

from __future__ import annotations

# In foreign-key order: parents before children.
TENANT_TABLES: tuple[str, ...] = (
    "workspaces",
    "users",
    "tokens",
    "apps",
    "channels",
    "channel_members",
    "incoming_webhooks",
    "messages",
    "reactions",
    "pins",
    "mentions",
    "notify_prefs",
    "notify_channel_prefs",
    "thread_subscriptions",
    "files",
    "file_shares",
    "legal_holds",
    "legal_hold_targets",
    "held_messages",
    "held_files",
    "retention_policies",
    "retention_runs",
    "notify_devices",
    "app_event_settings",
    "app_commands",
    "app_deliveries",
    "exports",
    "workspace_keys",
)

# The notification worker's delivery queues (notifications, pushes, digests) are, like the
# outbox, the cell's own: what was decided here is delivered from here. The apps' deliveries
# (``app_deliveries``) are not: an app's endpoint may be down for an hour, so its pending
# deliveries move with the workspace and the new cell sends them (docs/moves.md).
NOT_MOVED: frozenset[str] = frozenset({"outbox", "schema_migrations", "sign_in_attempts",
                                       "notifications", "notify_pushes", "notify_digests",
                                       "app_command_responses"})
