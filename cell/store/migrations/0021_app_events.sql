-- Events API, Socket Mode and slash commands of apps (docs/integrations.md), keyed by the
-- app (the apps table of the app model).

-- Per app: where its events go (a verified request URL, or Socket Mode), what it subscribes
-- to, and whether delivery is on (it is switched off after sustained failure).
CREATE TABLE app_event_settings (
    workspace_id    text NOT NULL REFERENCES workspaces (workspace_id),
    app_id          text NOT NULL,
    request_url     text,                          -- answered url_verification before it was stored
    socket_mode     boolean NOT NULL DEFAULT false,
    events          text[] NOT NULL DEFAULT '{}',  -- bot events, by Slack's names
    enabled         boolean NOT NULL DEFAULT true,
    failing_since   timestamptz,                   -- the first failure since the last success
    disabled_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, app_id),
    FOREIGN KEY (workspace_id, app_id) REFERENCES apps ON DELETE CASCADE
);

-- Slash commands: unique per workspace, each owned by one app.
CREATE TABLE app_commands (
    workspace_id  text NOT NULL REFERENCES workspaces (workspace_id),
    command       text NOT NULL CHECK (command ~ '^/[a-z0-9_\-]{1,31}$'),
    app_id        text NOT NULL,
    url           text,                  -- NULL: over the app's Socket Mode
    description   text NOT NULL DEFAULT '',
    usage_hint    text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, command),
    FOREIGN KEY (workspace_id, app_id) REFERENCES apps ON DELETE CASCADE
);

CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON app_event_settings
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON app_commands
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();

-- What is on its way to an app, at least once: an event_callback or a slash command.
-- Written by the events consumer (in its batch's transaction) and by chat.command; sent by
-- the worker's senders. Like the outbox, a delivery log and not workspace data: not moved,
-- not guarded (a frozen workspace's events still go out).
CREATE TABLE app_deliveries (
    workspace_id   text NOT NULL,
    delivery_id    text NOT NULL,              -- the event_id (Ev…), or a command's envelope id
    app_id         text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('events_api', 'slash_commands')),
    body           jsonb NOT NULL,
    url            text,                       -- a slash command's own URL (events: the app's)
    state          text NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'sending', 'awaiting_ack', 'delivered', 'dead')),
    attempts       integer NOT NULL DEFAULT 0,
    retry_reason   text,
    last_status    integer,
    next_at        timestamptz NOT NULL DEFAULT now(),
    created_at     timestamptz NOT NULL DEFAULT now(),
    delivered_at   timestamptz,
    PRIMARY KEY (workspace_id, delivery_id)
);
CREATE INDEX app_deliveries_due ON app_deliveries (next_at) WHERE state IN ('pending', 'sending', 'awaiting_ack');
CREATE INDEX app_deliveries_app ON app_deliveries (workspace_id, app_id, created_at);

-- A slash command's response_url: usable response_url_uses times within response_url_seconds.
CREATE TABLE app_command_responses (
    workspace_id  text NOT NULL,
    response_id   text NOT NULL,
    secret_hash   text NOT NULL,
    app_id        text NOT NULL,
    channel_id    text NOT NULL,
    user_id       text NOT NULL,
    uses          integer NOT NULL DEFAULT 0,
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, response_id)
);
