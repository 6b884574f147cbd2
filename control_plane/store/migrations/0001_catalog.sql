-- The control plane's catalog: cells, workspace placements, the versioned routing
-- table and the append-only, hash-chained audit log.

CREATE TABLE cells (
    name          text PRIMARY KEY,
    region        text NOT NULL,
    status        text NOT NULL DEFAULT 'provisioning'
                  CHECK (status IN ('provisioning', 'active', 'draining', 'drained', 'retired')),
    backend       text NOT NULL CHECK (backend IN ('local', 'endpoints')),
    spec          jsonb NOT NULL,                  -- as last declared in cells.yaml
    capacity      integer NOT NULL CHECK (capacity > 0),  -- most workspaces it may host
    api_url       text,                            -- known once provisioned
    gateway_url   text,
    database_dsn  text,                            -- for moves (logical replication)
    provisioning  jsonb NOT NULL DEFAULT '{}',     -- the backend's resumable state: step, plan, error
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workspaces (
    workspace_id  text PRIMARY KEY,
    name          text NOT NULL,
    cell          text NOT NULL REFERENCES cells (name),
    region_pin    text,
    status        text NOT NULL DEFAULT 'creating' CHECK (status IN ('creating', 'active', 'failed')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workspaces_cell ON workspaces (cell);

-- The routing table's version. Writers bump it under this row's lock, so versions
-- commit in order and a reader that has seen version N has seen every change <= N.
CREATE TABLE routing_head (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL
);
INSERT INTO routing_head (singleton, version) VALUES (true, 0);

CREATE TABLE routing_changes (
    version     bigint PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('route', 'cell')),
    key         text NOT NULL,   -- a workspace id (route) or a cell name (cell)
    value       jsonb,           -- route: {"cell"}; cell: {"region", "status", "api", "gateway"}; null: removed
    changed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    seq        bigint PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    role       text NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL,
    outcome    text NOT NULL CHECK (outcome IN ('ok', 'refused', 'failed')),
    reason     text,
    details    jsonb NOT NULL,
    prev_hash  text NOT NULL,
    hash       text NOT NULL UNIQUE
);
CREATE INDEX audit_log_target ON audit_log (target, seq);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
