-- A held copy keeps every column of the message a user deleted or edited: an app's ``bot``
-- (app_id, bot_profile, a webhook's username and icons), whether a reply was broadcast,
-- the client's message id and who edited it last. Copies taken before this have NULL/false.
ALTER TABLE held_messages
    ADD COLUMN bot             jsonb,
    ADD COLUMN reply_broadcast boolean NOT NULL DEFAULT false,
    ADD COLUMN client_msg_id   text,
    ADD COLUMN edited_by       text;
