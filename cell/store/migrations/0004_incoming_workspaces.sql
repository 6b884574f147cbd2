-- A workspace this cell is receiving from another cell (a live move in progress).
-- Cell-local and never replicated: while a row is here, the copy is incomplete, so
-- the cell neither serves the workspace (the API answers 503 workspace_frozen, which
-- routers hold and retry) nor lets anything but
-- replication write to it. The row goes when the move's subscription is dropped.

CREATE TABLE incoming_workspaces (
    workspace_id  text PRIMARY KEY,
    since         timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION cellchat_guard_workspace_write() RETURNS trigger
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
    IF EXISTS (SELECT 1 FROM incoming_workspaces WHERE workspace_id = ws) THEN
        current_status := 'frozen';  -- still arriving: only replication may write
    END IF;
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
