"""The cell's Prometheus metrics, one registry per process (served at ``/metrics`` by every role).

Defined once at import (prometheus_client registers them globally); the parts that
move them import this module. Names follow Prometheus conventions: ``_total`` for
counters, base units, one ``consumer`` label for outbox consumers (few, fixed).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ROLE = Gauge("cellchat_role", "1 for each role this process runs", ["role"])

RELAY_LEADING = Gauge("cellchat_relay_leading", "1 while this process's relay holds the leader lock")
RELAY_PUBLISHED = Counter("cellchat_relay_published_events_total", "Outbox events published to Redis")

CONSUMER_POSITION = Gauge(
    "cellchat_outbox_consumer_position", "Last outbox position a consumer committed", ["consumer"]
)
CONSUMER_LAG = Gauge(
    "cellchat_outbox_consumer_lag_events", "Numbered outbox events a consumer has not committed yet", ["consumer"]
)
CONSUMER_EVENTS = Counter(
    "cellchat_outbox_consumer_events_total", "Outbox events a consumer handled (redeliveries included)",
    ["consumer"],
)
CONSUMER_FAILURES = Counter(
    "cellchat_outbox_consumer_failures_total", "Batches a consumer failed (retried from the same position)",
    ["consumer"],
)
JOB_RUNS = Counter("cellchat_worker_job_runs_total", "Completed runs of a periodic worker job", ["job"])
JOB_FAILURES = Counter("cellchat_worker_job_failures_total", "Runs of a periodic worker job that failed", ["job"])
CONSUMER_RESYNCS = Counter(
    "cellchat_outbox_consumer_resyncs_total", "Times a skipped consumer resynced and jumped to the head",
    ["consumer"],
)
CONSUMER_SKIPS = Counter(
    "cellchat_outbox_consumer_skips_total", "Times pruning skipped a stalled consumer past the cap", ["consumer"]
)
CONSUMER_STATE = Gauge(
    "cellchat_outbox_consumer_state", "1 for a consumer's current state (active, stalled, skipped)",
    ["consumer", "state"],
)
PRUNE_HELD = Gauge(
    "cellchat_outbox_prune_held",
    "1 while outbox rows past retention are kept only because this consumer has not read them", ["consumer"],
)

# Notifications (docs/notifications.md): every push and digest by how its attempt ended.
NOTIFY_DELIVERIES = Counter(
    "cellchat_notify_deliveries_total",
    "Push and email digest attempts by outcome (sent, rejected, retried, dead)", ["channel", "outcome"],
)

# Events API, Socket Mode and slash commands (docs/integrations.md).
APP_DELIVERIES = Counter(
    "cellchat_app_deliveries_total", "Deliveries to apps by outcome (delivered, retried, dead)",
    ["kind", "transport", "outcome"],
)
APP_DELIVERY_RETRIES = Counter(
    "cellchat_app_delivery_retries_total", "Failed delivery attempts that will be retried, by Slack's retry reason",
    ["reason"],
)
APPS_DISABLED = Counter("cellchat_apps_disabled_total", "Apps whose event delivery was disabled after sustained failure")
SOCKET_MODE_CONNECTIONS = Gauge("cellchat_socket_mode_connections", "Socket Mode connections open on this gateway")
