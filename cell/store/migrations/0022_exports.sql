-- Workspace exports in Slack's format (docs/compliance.md, "Export"). One row per export job:
-- the worker that runs it keeps its position here (the last conversation whose part is
-- written), so a job killed mid-way resumes where it stopped. The archive itself lives in
-- this cell's object store under ws/<W>/exports/, never anywhere else.
CREATE TABLE exports (
    workspace_id         text NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    export_id            text NOT NULL,
    compliance           boolean NOT NULL DEFAULT false,
    requested_by         text NOT NULL,
    state                text NOT NULL DEFAULT 'queued'
                         CHECK (state IN ('queued', 'running', 'complete', 'failed')),
    conversations_total  integer NOT NULL DEFAULT 0,
    conversations_done   integer NOT NULL DEFAULT 0,
    messages_done        bigint NOT NULL DEFAULT 0,
    files_done           integer NOT NULL DEFAULT 0,
    position             text NOT NULL DEFAULT '',   -- the last conversation id whose part is written
    attempts             integer NOT NULL DEFAULT 0,
    archive_key          text,
    size                 bigint,
    sha256               text,
    error                text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    started_at           timestamptz,
    finished_at          timestamptz,
    PRIMARY KEY (workspace_id, export_id),
    CHECK ((state = 'complete') = (sha256 IS NOT NULL))
);
CREATE INDEX exports_unfinished ON exports (created_at) WHERE state IN ('queued', 'running');

CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON exports
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
