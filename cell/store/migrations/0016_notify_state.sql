-- Notification state (docs/notifications.md): what a person wants to be told, when they
-- do not want to be disturbed, and which threads they follow. Unread counts are NOT stored
-- per member and message: they are computed from the read cursors below (and
-- channel_members.last_read) against the messages themselves, so a post to a channel of
-- 10,000 members writes no row per member.

-- A person's global defaults and DND. No row = the defaults.
CREATE TABLE notify_prefs (
    workspace_id      text NOT NULL,
    user_id           text NOT NULL,
    level             text NOT NULL DEFAULT 'mentions' CHECK (level IN ('all', 'mentions', 'nothing')),
    highlight_words   text[] NOT NULL DEFAULT '{}',
    dnd_enabled       boolean NOT NULL DEFAULT false,   -- the daily schedule is on
    dnd_start_minute  smallint NOT NULL DEFAULT 1320    -- minutes after local midnight (22:00)
                      CHECK (dnd_start_minute BETWEEN 0 AND 1439),
    dnd_end_minute    smallint NOT NULL DEFAULT 480     -- (08:00); before the start: the window crosses midnight
                      CHECK (dnd_end_minute BETWEEN 0 AND 1439),
    snooze_until      timestamptz,                      -- dnd.setSnooze
    dnd_paused_until  timestamptz,                      -- dnd.endDnd: today's window ended early, until then
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, user_id),
    FOREIGN KEY (workspace_id, user_id) REFERENCES users ON DELETE CASCADE,
    CHECK (dnd_start_minute <> dnd_end_minute)
);

-- A person's preferences for one conversation. NULL level = their global level.
CREATE TABLE notify_channel_prefs (
    workspace_id         text NOT NULL,
    channel_id           text NOT NULL,
    user_id              text NOT NULL,
    level                text CHECK (level IN ('all', 'mentions', 'nothing')),
    muted                boolean NOT NULL DEFAULT false,
    suppress_broadcasts  boolean NOT NULL DEFAULT false,  -- @here/@channel/@everyone do not notify
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, channel_id, user_id),
    FOREIGN KEY (workspace_id, channel_id) REFERENCES channels ON DELETE CASCADE
);
CREATE INDEX notify_channel_prefs_user ON notify_channel_prefs (workspace_id, user_id);

-- An urgent channel's @channel/@here/@everyone break through DND.
ALTER TABLE channels ADD COLUMN is_urgent boolean NOT NULL DEFAULT false;

-- Who follows a thread, and how far they have read it. Written for the root's author, each
-- replier and each person mentioned in a reply (in the reply's own transaction), and by
-- subscriptions.thread.add/remove/mark. unfollowed remembers an explicit unfollow, so that a
-- later mention does not undo it (a reply of one's own does); a thread marked read without
-- being followed has a row with subscribed = false.
CREATE TABLE thread_subscriptions (
    workspace_id  text NOT NULL,
    channel_id    text NOT NULL,
    thread_ts     bigint NOT NULL,
    user_id       text NOT NULL,
    subscribed    boolean NOT NULL DEFAULT true,
    unfollowed    boolean NOT NULL DEFAULT false,
    last_read     bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, channel_id, thread_ts, user_id),
    FOREIGN KEY (workspace_id, channel_id, thread_ts) REFERENCES messages ON DELETE CASCADE
);
CREATE INDEX thread_subscriptions_user ON thread_subscriptions (workspace_id, user_id) WHERE subscribed;

CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON notify_prefs
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON notify_channel_prefs
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON thread_subscriptions
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
