-- App deliveries move with their workspace (cell/store/tenancy.py): the source cell must not
-- change them once the workspace is frozen, or the frozen copies would differ and the last
-- outcomes would stay behind when the subscription is dropped. So updates (claims, outcomes,
-- acks) go through the write guard: the freeze waits for those in flight, later ones are
-- refused (the new cell sends the delivery again, with the same event_id: at least once).
-- Inserts stay unguarded: the events consumer queues the events W committed before its freeze
-- after the freeze began, and the move waits for it to have done so (docs/moves.md).
CREATE TRIGGER guard_write BEFORE UPDATE ON app_deliveries
    FOR EACH ROW EXECUTE FUNCTION cellchat_guard_workspace_write();
