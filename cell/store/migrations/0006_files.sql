-- Files (docs/files.md). The bytes live in the cell's object store, content-addressed
-- per workspace (ws/<W>/sha256/<hex>); these rows say who uploaded what, where it is
-- shared, and how far its upload and preview have come.

CREATE TABLE files (
    workspace_id       text NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    file_id            text NOT NULL,
    user_id            text NOT NULL,
    name               text NOT NULL,
    title              text NOT NULL,
    alt_txt            text,
    snippet_type       text,
    state              text NOT NULL DEFAULT 'pending'
                       CHECK (state IN ('pending', 'uploaded', 'complete')),
    declared_size      bigint NOT NULL,
    size               bigint,          -- bytes received (= declared_size once uploaded)
    sha256             text,            -- hex digest of the content, once uploaded
    mimetype           text,            -- sniffed from the bytes, never the client's claim alone
    filetype           text,
    upload_expires_at  timestamptz NOT NULL,
    original_w         integer,
    original_h         integer,
    thumbs             jsonb,           -- {"64": [w, h], "360": [w, h], ...}: previews made
    preview            text CHECK (preview IN ('pending', 'done', 'none')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    completed_at       timestamptz,
    PRIMARY KEY (workspace_id, file_id),
    FOREIGN KEY (workspace_id, user_id) REFERENCES users ON DELETE CASCADE
);
CREATE INDEX files_user ON files (workspace_id, user_id, created_at);
CREATE INDEX files_sha256 ON files (workspace_id, sha256) WHERE sha256 IS NOT NULL;
CREATE INDEX files_unfinished ON files (upload_expires_at) WHERE state IN ('pending', 'uploaded');

-- Where a file is shared: one row per message that carries it.
CREATE TABLE file_shares (
    workspace_id  text NOT NULL,
    file_id       text NOT NULL,
    channel_id    text NOT NULL,
    ts            bigint NOT NULL,   -- the message that shares it
    thread_ts     bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, file_id, channel_id, ts),
    FOREIGN KEY (workspace_id, file_id) REFERENCES files ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, channel_id) REFERENCES channels ON DELETE CASCADE
);
CREATE INDEX file_shares_channel ON file_shares (workspace_id, channel_id, ts);

-- The files a message carries, in order (ids; rendered from the files table, so a deleted
-- file shows as a tombstone).
ALTER TABLE messages ADD COLUMN files text[];

CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON files
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON file_shares
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
