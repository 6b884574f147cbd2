-- Real-time delivery (docs/realtime.md). The relay gives every outbox row a
-- position the first time it sees it: positions follow the order in which rows
-- became visible (committed), which identity ids do not, because concurrent
-- transactions commit in any order. Clients resume from positions.

ALTER TABLE outbox ADD COLUMN position bigint;
CREATE UNIQUE INDEX outbox_by_position ON outbox (position);
CREATE INDEX outbox_workspace_position ON outbox (workspace_id, position);

-- One row per cell database: the position counter (advanced only by the relay
-- that holds the leader lock), the epoch that makes positions of different
-- databases incomparable, and the last position deleted by retention.
CREATE TABLE realtime_state (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    epoch           text NOT NULL,
    last_position   bigint NOT NULL DEFAULT 0,
    pruned_through  bigint NOT NULL DEFAULT 0
);

-- Wake the relay on commit. One notification per statement; Postgres folds
-- identical notifications of one transaction into one.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cell_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Rows that logical replication copies in (a workspace moving here) are
-- history: their positions belonged to the cell that assigned them. Fires only
-- in replication apply workers (ENABLE REPLICA).
CREATE FUNCTION outbox_replicated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.position := NULL;
    NEW.published_at := coalesce(NEW.published_at, now());
    RETURN NEW;
END
$$;
CREATE TRIGGER outbox_replicated BEFORE INSERT OR UPDATE ON outbox
    FOR EACH ROW EXECUTE FUNCTION outbox_replicated();
ALTER TABLE outbox ENABLE REPLICA TRIGGER outbox_replicated;
