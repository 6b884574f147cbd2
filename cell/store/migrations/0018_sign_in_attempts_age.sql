-- Sign-in attempts are pruned by age (cell/store/signins.py: prune, a batch with each attempt):
-- the oldest are found through this index, never by a scan of the whole table.
CREATE INDEX sign_in_attempts_at ON sign_in_attempts (at);
