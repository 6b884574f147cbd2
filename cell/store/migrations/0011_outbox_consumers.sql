-- Outbox consumers (docs/outbox.md). Two changes:
--
-- 1. Every outbox row states its audience: a conversation's members, one
--    person, or the whole workspace. channel_id holds the conversation's or the
--    person's id (NULL for the workspace). Rows written before this migration
--    get theirs from the id, once, here.
ALTER TABLE outbox ADD COLUMN audience text;
UPDATE outbox SET audience = CASE
    WHEN channel_id IS NULL THEN 'workspace'
    WHEN left(channel_id, 1) IN ('C', 'D', 'G') THEN 'conversation'
    ELSE 'person'
END;
ALTER TABLE outbox ALTER COLUMN audience SET NOT NULL;
ALTER TABLE outbox ADD CONSTRAINT outbox_audience CHECK (
    (audience = 'workspace' AND channel_id IS NULL)
    OR (audience IN ('conversation', 'person') AND channel_id IS NOT NULL)
);

-- 2. Named consumers with a persisted position: everything numbered up to
--    `position` is handled. Pruning never passes the slowest consumer that is
--    not skipped; a stalled one (no heartbeat) too far behind is skipped and
--    resyncs when it runs again.
CREATE TABLE outbox_consumers (
    name              text PRIMARY KEY,
    position          bigint NOT NULL,
    state             text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'stalled', 'skipped')),
    heartbeat_at      timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    skipped_at        timestamptz,
    skipped_position  bigint,
    resyncs           integer NOT NULL DEFAULT 0
);

