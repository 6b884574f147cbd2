-- Workspace write guard, enforced by the database itself so that no code path can
-- slip a write past a freeze. Every write to a tenant table takes a KEY SHARE lock on
-- its workspace row and checks the status:
--   frozen -> no writes at all (the workspace is being handed over to another cell);
--   moved  -> no inserts or updates (only the clean-up of the old copy deletes rows).
-- Freezing takes FOR UPDATE on the workspace row, which waits for every in-flight
-- writer to finish: once the freeze commits, nothing more can commit for it.
-- Logical replication's apply workers run with session_replication_role = replica,
-- so these triggers do not fire on a target cell while it receives a workspace.

CREATE FUNCTION cellchat_guard_workspace_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ws text;
    current_status text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        ws := OLD.workspace_id;
    ELSE
        ws := NEW.workspace_id;
    END IF;
    SELECT status INTO current_status FROM workspaces WHERE workspace_id = ws FOR KEY SHARE;
    IF current_status = 'frozen' OR (current_status = 'moved' AND TG_OP <> 'DELETE') THEN
        RAISE EXCEPTION 'workspace % is %', ws, current_status
            USING ERRCODE = 'CC001', HINT = current_status;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON channels
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON channel_members
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON reactions
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON pins
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
CREATE TRIGGER guard_write BEFORE INSERT OR UPDATE OR DELETE ON mentions
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
