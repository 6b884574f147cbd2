-- Apps (docs/integrations.md): an app belongs to one workspace and has a bot user, a signing
-- secret and the scopes it was installed with. Its tokens are rows of ``tokens`` carrying the
-- app's id and the scopes they hold: the bot token (xoxb), the app-level token (xapp, for
-- Socket Mode) and the user tokens of the people who installed it with user scopes (xoxp).

CREATE TABLE apps (
    workspace_id    text NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    app_id          text NOT NULL,          -- 'A' + 10 capitals or digits
    name            text NOT NULL,
    bot_user_id     text NOT NULL,          -- the app's bot user (users.is_bot, users.bot_id)
    bot_id          text NOT NULL,
    signing_secret  text NOT NULL,          -- signs what the cell sends the app (events, commands)
    bot_scopes      text[] NOT NULL DEFAULT '{}',
    user_scopes     text[] NOT NULL DEFAULT '{}',
    icon_url        text NOT NULL DEFAULT '',
    installed       boolean NOT NULL DEFAULT true,
    created_by      text NOT NULL,          -- a user id, or 'admin' (the cell's admin token)
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, app_id),
    FOREIGN KEY (workspace_id, bot_user_id) REFERENCES users ON DELETE CASCADE
);
CREATE UNIQUE INDEX apps_bot_user ON apps (workspace_id, bot_user_id);

-- Every token holds scopes. Those minted before apps existed keep working as they did: a
-- person's session token holds 'client' (everything a person may do), a plain bot's 'bot'
-- (Slack's classic bot scope: every method open to bots).
ALTER TABLE tokens ADD COLUMN app_id text;
ALTER TABLE tokens ADD COLUMN scopes text[];
UPDATE tokens SET scopes = CASE kind WHEN 'xoxb' THEN '{bot}'::text[] ELSE '{client}'::text[] END;
ALTER TABLE tokens ALTER COLUMN scopes SET NOT NULL;
ALTER TABLE tokens DROP CONSTRAINT tokens_kind_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_kind_check CHECK (kind IN ('xoxp', 'xoxb', 'xapp'));
CREATE INDEX tokens_app ON tokens (workspace_id, app_id) WHERE app_id IS NOT NULL;

-- What a bot's message carries beyond bot_id, as Slack shows it: app_id and bot_profile, and
-- for incoming webhooks the username and icons overrides (merged into the message as is).
ALTER TABLE messages ADD COLUMN bot jsonb;

-- Incoming webhooks: one secret URL per (app, channel), /services/<T>/<B>/<secret>.
CREATE TABLE incoming_webhooks (
    workspace_id  text NOT NULL,
    webhook_id    text NOT NULL,            -- the 'B…' of the URL
    app_id        text NOT NULL,
    channel_id    text NOT NULL,
    secret_hash   text NOT NULL,            -- sha256 of the URL's secret (it is shown once)
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    PRIMARY KEY (workspace_id, webhook_id),
    FOREIGN KEY (workspace_id, app_id) REFERENCES apps ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, channel_id) REFERENCES channels ON DELETE CASCADE
);
CREATE INDEX incoming_webhooks_app ON incoming_webhooks (workspace_id, app_id);
