-- Cell core schema. Every tenant table leads its primary key with workspace_id:
-- that is what per-workspace migration, isolation checks and row-filtered
-- replication stand on. Times are timestamptz; message ts are integer microseconds.

CREATE TABLE workspaces (
    workspace_id  text PRIMARY KEY,
    name          text NOT NULL,
    domain        text NOT NULL UNIQUE,
    region_pin    text,
    status        text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'frozen', 'moved')),
    moved_to      text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    workspace_id   text NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    user_id        text NOT NULL,
    email          text NOT NULL,
    name           text NOT NULL,
    real_name      text NOT NULL DEFAULT '',
    password_hash  text,
    is_admin       boolean NOT NULL DEFAULT false,
    is_owner       boolean NOT NULL DEFAULT false,
    is_bot         boolean NOT NULL DEFAULT false,
    bot_id         text,
    deleted        boolean NOT NULL DEFAULT false,
    tz             text NOT NULL DEFAULT 'UTC',
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, user_id)
);
CREATE UNIQUE INDEX users_email ON users (workspace_id, lower(email));

CREATE TABLE tokens (
    workspace_id  text NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    token_id      text NOT NULL,
    user_id       text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('xoxp', 'xoxb')),
    secret_hash   text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    PRIMARY KEY (workspace_id, token_id),
    FOREIGN KEY (workspace_id, user_id) REFERENCES users ON DELETE CASCADE
);

CREATE TABLE channels (
    workspace_id      text NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    channel_id        text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('public', 'private', 'im', 'mpim')),
    name              text NOT NULL,
    creator           text NOT NULL,
    dm_key            text,  -- sorted member ids of an im/mpim: one conversation per set of people
    topic             text NOT NULL DEFAULT '',
    topic_creator     text NOT NULL DEFAULT '',
    topic_last_set    bigint NOT NULL DEFAULT 0,
    purpose           text NOT NULL DEFAULT '',
    purpose_creator   text NOT NULL DEFAULT '',
    purpose_last_set  bigint NOT NULL DEFAULT 0,
    is_archived       boolean NOT NULL DEFAULT false,
    last_ts           bigint NOT NULL DEFAULT 0,  -- last assigned message ts (microseconds)
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, channel_id)
);
CREATE UNIQUE INDEX channels_name ON channels (workspace_id, name) WHERE kind IN ('public', 'private');
CREATE UNIQUE INDEX channels_dm_key ON channels (workspace_id, dm_key) WHERE dm_key IS NOT NULL;

CREATE TABLE channel_members (
    workspace_id  text NOT NULL,
    channel_id    text NOT NULL,
    user_id       text NOT NULL,
    joined_at     timestamptz NOT NULL DEFAULT now(),
    last_read     bigint NOT NULL DEFAULT 0,   -- ts (microseconds) of the last message read
    is_open       boolean NOT NULL DEFAULT true,  -- DMs: shown in the sidebar (conversations.close)
    PRIMARY KEY (workspace_id, channel_id, user_id),
    FOREIGN KEY (workspace_id, channel_id) REFERENCES channels ON DELETE CASCADE
);
CREATE INDEX channel_members_user ON channel_members (workspace_id, user_id);

CREATE TABLE messages (
    workspace_id     text NOT NULL,
    channel_id       text NOT NULL,
    ts               bigint NOT NULL,
    user_id          text NOT NULL,
    bot_id           text,
    subtype          text,
    text             text NOT NULL DEFAULT '',
    blocks           jsonb,
    attachments      jsonb,
    thread_ts        bigint,          -- set on replies and on parents that have replies
    reply_count      integer NOT NULL DEFAULT 0,
    reply_users      text[] NOT NULL DEFAULT '{}',
    latest_reply     bigint,
    reply_broadcast  boolean NOT NULL DEFAULT false,
    client_msg_id    text,
    edited_ts        bigint,
    edited_by        text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, channel_id, ts),
    FOREIGN KEY (workspace_id, channel_id) REFERENCES channels ON DELETE CASCADE
);
-- Idempotent sends: the constraint, not a read-then-write, decides.
CREATE UNIQUE INDEX messages_client_msg_id ON messages (workspace_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;
-- Thread replies in order.
CREATE INDEX messages_thread ON messages (workspace_id, channel_id, thread_ts, ts)
    WHERE thread_ts IS NOT NULL;

CREATE TABLE reactions (
    workspace_id  text NOT NULL,
    channel_id    text NOT NULL,
    ts            bigint NOT NULL,
    name          text NOT NULL,
    user_id       text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, channel_id, ts, name, user_id),
    FOREIGN KEY (workspace_id, channel_id, ts) REFERENCES messages ON DELETE CASCADE
);

CREATE TABLE pins (
    workspace_id  text NOT NULL,
    channel_id    text NOT NULL,
    ts            bigint NOT NULL,
    pinned_by     text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, channel_id, ts),
    FOREIGN KEY (workspace_id, channel_id, ts) REFERENCES messages ON DELETE CASCADE
);

-- Who a message mentions, for notifications and unread-mention counts.
CREATE TABLE mentions (
    workspace_id  text NOT NULL,
    channel_id    text NOT NULL,
    ts            bigint NOT NULL,
    target        text NOT NULL,  -- a user id, or 'here' / 'channel' / 'everyone'
    PRIMARY KEY (workspace_id, channel_id, ts, target),
    FOREIGN KEY (workspace_id, channel_id, ts) REFERENCES messages ON DELETE CASCADE
);
CREATE INDEX mentions_target ON mentions (workspace_id, target, ts);

-- Transactional outbox: written in the same transaction as the change it
-- describes; the relay publishes rows in id order and stamps published_at.
CREATE TABLE outbox (
    workspace_id  text NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    channel_id    text,            -- null for workspace-wide events
    event_type    text NOT NULL,
    payload       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    PRIMARY KEY (workspace_id, id)
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_position ON outbox (workspace_id, channel_id, id);
