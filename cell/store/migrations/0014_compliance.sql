-- Compliance (docs/compliance.md): legal holds, what they keep, and retention policies.
--
-- A legal hold names people and/or conversations of one workspace. While a hold is active,
-- nothing it covers is destroyed: a message by a held person or in a held conversation that
-- its author deletes (or edits) disappears for users exactly as without a hold (the live row
-- goes, so history, search and RTM never see it again), but a copy of it as it was is kept in
-- held_messages for the compliance export; a held person's deleted file keeps its bytes and a
-- row in held_files. Retention never deletes what a hold covers.

CREATE TABLE legal_holds (
    workspace_id    text NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    hold_id         text NOT NULL,          -- 'H' + 10 capitals or digits, chosen by the control plane
    name            text NOT NULL,
    created_by      text NOT NULL,          -- the control plane's actor (a compliance officer)
    created_at      timestamptz NOT NULL DEFAULT now(),
    released_at     timestamptz,
    released_by     text,
    release_reason  text,
    PRIMARY KEY (workspace_id, hold_id),
    CHECK ((released_at IS NULL) = (released_by IS NULL))
);

CREATE TABLE legal_hold_targets (
    workspace_id  text NOT NULL,
    hold_id       text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('user', 'conversation')),
    target_id     text NOT NULL,
    PRIMARY KEY (workspace_id, hold_id, kind, target_id),
    FOREIGN KEY (workspace_id, hold_id) REFERENCES legal_holds ON DELETE CASCADE
);
CREATE INDEX legal_hold_targets_target ON legal_hold_targets (workspace_id, target_id);

-- Copies of held messages as they were before a user deleted or edited them. ``revision`` is
-- when the copy was taken (microseconds since the epoch), so an often-edited message keeps
-- every earlier text.
CREATE TABLE held_messages (
    workspace_id  text NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    channel_id    text NOT NULL,
    ts            bigint NOT NULL,
    revision      bigint NOT NULL,
    state         text NOT NULL CHECK (state IN ('edited', 'deleted')),
    user_id       text NOT NULL,
    bot_id        text,
    subtype       text,
    text          text NOT NULL,
    blocks        jsonb,
    attachments   jsonb,
    thread_ts     bigint,
    files         text[],
    edited_ts     bigint,
    reactions     jsonb NOT NULL DEFAULT '[]',   -- [{"name", "user"}], as they were
    changed_by    text NOT NULL,                 -- who deleted or edited it
    posted_at     timestamptz NOT NULL,          -- the message's created_at
    held_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, channel_id, ts, revision)
);

-- A held person's file deleted by a user: its row as it was; the content stays in the object
-- store (ws/<W>/sha256/<hex>) while this row exists.
CREATE TABLE held_files (
    workspace_id  text NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    file_id       text NOT NULL,
    user_id       text NOT NULL,
    name          text NOT NULL,
    title         text NOT NULL,
    mimetype      text,
    filetype      text,
    size          bigint,
    sha256        text,
    channel_ids   text[] NOT NULL DEFAULT '{}',
    posted_at     timestamptz NOT NULL,
    deleted_by    text NOT NULL,
    held_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, file_id)
);
CREATE INDEX held_files_sha256 ON held_files (workspace_id, sha256) WHERE sha256 IS NOT NULL;

-- Retention: how long messages (and their replies, reactions, files and search data) are
-- kept. One policy for the workspace, one for its DMs and group DMs, one per conversation;
-- the most specific applies. keep_days NULL keeps forever.
CREATE TABLE retention_policies (
    workspace_id  text NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    scope         text NOT NULL CHECK (scope IN ('workspace', 'dms', 'conversation')),
    channel_id    text NOT NULL DEFAULT '',
    keep_days     integer CHECK (keep_days IS NULL OR keep_days > 0),
    set_by        text NOT NULL,
    set_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, scope, channel_id),
    CHECK ((scope = 'conversation') = (channel_id <> ''))
);

-- What each retention run deleted (counts, never content), until the control plane has
-- copied it into its hash-chained audit log (collected_at).
CREATE TABLE retention_runs (
    workspace_id  text NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    run_id        text NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT now(),
    counts        jsonb NOT NULL,
    collected_at  timestamptz,
    PRIMARY KEY (workspace_id, run_id)
);
CREATE INDEX retention_runs_uncollected ON retention_runs (finished_at) WHERE collected_at IS NULL;

CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON legal_holds
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON legal_hold_targets
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON held_messages
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON held_files
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON retention_policies
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON retention_runs
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
