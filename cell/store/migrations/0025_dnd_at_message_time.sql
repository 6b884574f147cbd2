-- DND judged at the message's time (docs/notifications.md, section 3): a worker deciding late
-- must still know whether a message was posted inside a snooze or an ended-early window, so
-- their starts are kept beside their ends (an ended snooze keeps its span: snooze_until
-- becomes the time it was ended). snooze_end_told: false while a snooze will end by itself
-- and its end has not been told yet (dnd_updated / dnd_updated_user from the worker).
ALTER TABLE notify_prefs
    ADD COLUMN snooze_started   timestamptz,                     -- dnd.setSnooze (an extension keeps it)
    ADD COLUMN snooze_end_told  boolean NOT NULL DEFAULT true,
    ADD COLUMN dnd_paused_from  timestamptz;                     -- dnd.endDnd: the pause's start
-- Snoozes running now are told when they end (those of a workspace mid-move are not touched:
-- its rows are frozen; nothing tells their end, as before).
UPDATE notify_prefs p SET snooze_end_told = false
FROM workspaces w
WHERE w.workspace_id = p.workspace_id AND w.status = 'active' AND p.snooze_until > now();
CREATE INDEX notify_prefs_snooze_untold ON notify_prefs (snooze_until) WHERE NOT snooze_end_told;

-- A notification of a message posted during its person's DND is never pushed: 'dnd'.
ALTER TABLE notifications DROP CONSTRAINT notifications_push_state_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_push_state_check
    CHECK (push_state IN ('pending', 'pushed', 'read', 'expired', 'none', 'dnd'));
