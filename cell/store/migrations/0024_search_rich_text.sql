-- Message search, fifth step: a message is found by the words of its attachments and blocks
-- too, not only by its top-level `text` (bots and apps often put everything there).
--
-- Attachments: pretext, title, text, fallback and each field's title and value. Blocks (and
-- blocks nested in attachments): every string member named "text", which is where section,
-- header, context, fields and rich_text elements keep what a reader sees. A plain message (no
-- blocks, no attachments) costs nothing more: the function returns the body as it is.

CREATE FUNCTION cellchat_message_words(body text, blocks jsonb, attachments jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN blocks IS NULL AND attachments IS NULL THEN body ELSE concat_ws(' ', body,
    (SELECT string_agg(v #>> '{}', ' ')
     FROM jsonb_path_query(coalesce(blocks, '[]'::jsonb) || coalesce(attachments, '[]'::jsonb),
                           'strict $.**.text ? (@.type() == "string")') AS v),
    (SELECT string_agg(concat_ws(' ', a ->> 'pretext', a ->> 'title', a ->> 'fallback',
                                 (SELECT string_agg(concat_ws(' ', f ->> 'title', f ->> 'value'), ' ')
                                  FROM jsonb_array_elements(CASE jsonb_typeof(a -> 'fields')
                                      WHEN 'array' THEN a -> 'fields' ELSE '[]'::jsonb END) AS f
                                  WHERE jsonb_typeof(f) = 'object')), ' ')
     FROM jsonb_array_elements(CASE jsonb_typeof(attachments) WHEN 'array' THEN attachments
                                    ELSE '[]'::jsonb END) AS a
     WHERE jsonb_typeof(a) = 'object'))
END;

CREATE OR REPLACE FUNCTION cellchat_search_index() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector := cellchat_search_vector(
        NEW.workspace_id, NEW.subtype, cellchat_message_words(NEW.text, NEW.blocks, NEW.attachments));
    RETURN NEW;
END
$$;

DROP TRIGGER search_index ON messages;
CREATE TRIGGER search_index BEFORE INSERT OR UPDATE OF text, subtype, blocks, attachments, search_vector
    ON messages FOR EACH ROW EXECUTE FUNCTION cellchat_search_index();

-- Existing messages with blocks or attachments (frozen or moved workspaces' included: no write guard).
ALTER TABLE messages DISABLE TRIGGER guard_write;
UPDATE messages SET search_vector = cellchat_search_vector(
        workspace_id, subtype, cellchat_message_words(text, blocks, attachments))
    WHERE blocks IS NOT NULL OR attachments IS NOT NULL;
ALTER TABLE messages ENABLE TRIGGER guard_write;
