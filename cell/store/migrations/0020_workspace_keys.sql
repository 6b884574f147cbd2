-- Files at rest (docs/compliance.md, "Encryption at rest"): each workspace's data key, wrapped
-- by a master key of the cells' key ring. A tenant row: it moves with the workspace, so the
-- target cell (same key ring) reads the sealed objects it receives. destroyed_at set and
-- wrapped_key NULL: crypto-shredded, the workspace's objects can never be read again.
CREATE TABLE workspace_keys (
    workspace_id   text PRIMARY KEY REFERENCES workspaces ON DELETE CASCADE,
    master_key_id  text NOT NULL,
    wrapped_key    bytea,
    created_at     timestamptz NOT NULL DEFAULT now(),
    destroyed_at   timestamptz,
    CHECK ((wrapped_key IS NULL) = (destroyed_at IS NOT NULL))
);

CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON workspace_keys
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
