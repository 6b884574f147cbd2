-- The worker's sweep of pending previews (cell/consumers/previews.py) reads them through this
-- small partial index, never by a scan of all files.
CREATE INDEX files_preview_pending ON files (created_at) WHERE preview = 'pending';
