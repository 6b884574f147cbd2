-- Notification delivery (docs/notifications.md): push devices, the notifications the worker
-- decided, the pushes and email digests it sends (each row its idempotency key).

-- A person's push device: where its gateway is and the token it knows the device by.
-- Workspace data (it moves with the workspace).
CREATE TABLE notify_devices (
    workspace_id  text NOT NULL,
    device_id     text NOT NULL,
    user_id       text NOT NULL,
    app_id        text NOT NULL,
    pushkey       text NOT NULL,
    gateway_url   text NOT NULL,
    device_name   text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, device_id)
);
CREATE UNIQUE INDEX notify_devices_pushkey ON notify_devices (workspace_id, app_id, pushkey);
CREATE INDEX notify_devices_user ON notify_devices (workspace_id, user_id);
CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON notify_devices
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();

-- One row per (message, person notified), written by the consumer in the transaction that
-- advances its outbox position (so exactly once per message). push_state: 'pending' until
-- the sender pushes it ('pushed'), finds it read ('read'), too old ('expired') or the person
-- without devices ('none'). email_state likewise for the digest.
CREATE TABLE notifications (
    workspace_id  text NOT NULL,
    user_id       text NOT NULL,
    channel_id    text NOT NULL,
    ts            bigint NOT NULL,
    thread_ts     bigint,
    author        text NOT NULL,
    reason        text NOT NULL,
    snippet       text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    push_state    text NOT NULL DEFAULT 'pending'
        CHECK (push_state IN ('pending', 'pushed', 'read', 'expired', 'none')),
    push_due_at   timestamptz NOT NULL DEFAULT now(),
    pushed_at     timestamptz,
    push_key      uuid,
    email_state   text NOT NULL DEFAULT 'pending' CHECK (email_state IN ('pending', 'emailed', 'read', 'none')),
    digest_key    uuid,
    PRIMARY KEY (workspace_id, user_id, channel_id, ts)
);
CREATE INDEX notifications_push_due ON notifications (push_due_at) WHERE push_state = 'pending';
CREATE INDEX notifications_email_due ON notifications (created_at) WHERE email_state = 'pending';

-- One row per push to one device: push_key (shared by the devices of one push) is the
-- idempotency key the gateway receives (notification.id, with the device's pushkey). Written
-- before the request, marked after its answer; a delivery whose lease ran out (the worker died
-- mid-request) is sent again under the same key.
CREATE TABLE notify_pushes (
    workspace_id     text NOT NULL,
    push_key         uuid NOT NULL,
    user_id          text NOT NULL,
    channel_id       text NOT NULL,
    device_id        text NOT NULL,
    gateway_url      text NOT NULL,
    payload          jsonb NOT NULL,
    state            text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sending', 'sent', 'rejected', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    PRIMARY KEY (workspace_id, push_key, device_id)
);
CREATE INDEX notify_pushes_due ON notify_pushes (next_attempt_at) WHERE state IN ('pending', 'sending');
CREATE INDEX notify_pushes_dead ON notify_pushes (workspace_id, created_at) WHERE state = 'dead';

-- One row per digest email: digest_key is its Message-ID.
CREATE TABLE notify_digests (
    workspace_id     text NOT NULL,
    digest_key       uuid NOT NULL,
    user_id          text NOT NULL,
    address          text NOT NULL,
    subject          text NOT NULL,
    body             text NOT NULL,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    PRIMARY KEY (workspace_id, digest_key)
);
CREATE INDEX notify_digests_due ON notify_digests (next_attempt_at) WHERE state IN ('pending', 'sending');
CREATE INDEX notify_digests_user ON notify_digests (workspace_id, user_id, created_at);
