-- No NOTIFY inside the transactions that write the outbox (issue 16): the statement trigger
-- made each of them take PostgreSQL's global notification lock at commit and hold it through
-- the WAL flush, so a cell's posting transactions committed one at a time. The process that
-- committed now nudges the relay through Redis after the commit (cell/realtime/wake.py).
DROP TRIGGER IF EXISTS outbox_notify ON outbox;
DROP FUNCTION IF EXISTS outbox_notify();
