-- Message search, third step: every word of a workspace's messages is stored under the
-- workspace's own prefix (six hex digits of md5(workspace_id)), so that a word's GIN posting
-- list holds that workspace's messages only. Measured (bench/search.py, docs/benchmarks.md): with
-- words shared by the whole cell, a query of three words that each occur in 4% of the messages
-- made GIN intersect three lists of 400,000 rows in a 10M-message cell to find 51 matches.
-- The workspace id stays as a lexeme of its own: the search action reads its frequency from the
-- planner's statistics as the workspace's size. Two workspaces with the same prefix only share
-- posting lists; every search still filters on workspace_id.

CREATE OR REPLACE FUNCTION cellchat_search_vector(workspace_id text, subtype text, body text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN subtype IS NULL
            THEN to_tsvector('simple'::regconfig,
                             regexp_replace(cellchat_search_text(body), '(\S+)',
                                            substr(md5(workspace_id), 1, 6) || '\1', 'g'))
                 || array_to_tsvector(ARRAY[workspace_id]) END;

DROP INDEX messages_search;
ALTER TABLE messages DISABLE TRIGGER guard_write;
UPDATE messages SET search_vector = cellchat_search_vector(workspace_id, subtype, text);
ALTER TABLE messages ENABLE TRIGGER guard_write;
CREATE INDEX messages_search ON messages USING gin (search_vector);
REINDEX INDEX files_search;
