-- Message search, fourth step: the workspace prefix of stored words starts with a letter.
-- Six hex digits alone could read as a number in exponent notation ("000e5e" + "cavani"), which
-- PostgreSQL's parser splits off ("000e5", "ecavani"): that workspace's words could not be found.
-- 'w' || six hex digits is always one word with what follows.

CREATE OR REPLACE FUNCTION cellchat_search_vector(workspace_id text, subtype text, body text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN subtype IS NULL
            THEN to_tsvector('simple'::regconfig,
                             regexp_replace(cellchat_search_text(body), '(\S+)',
                                            'w' || substr(md5(workspace_id), 1, 6) || '\1', 'g'))
                 || array_to_tsvector(ARRAY[workspace_id]) END;

DROP INDEX messages_search;
-- Neither the write guard (frozen or moved workspaces) nor the search trigger (it would compute
-- the same value a second time) for this one rewrite.
ALTER TABLE messages DISABLE TRIGGER guard_write;
ALTER TABLE messages DISABLE TRIGGER search_index;
UPDATE messages SET search_vector = cellchat_search_vector(workspace_id, subtype, text);
ALTER TABLE messages ENABLE TRIGGER search_index;
ALTER TABLE messages ENABLE TRIGGER guard_write;
CREATE INDEX messages_search ON messages USING gin (search_vector);
REINDEX INDEX files_search;
