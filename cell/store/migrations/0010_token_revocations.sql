-- Gateways look for tokens revoked in the last few seconds (every half second), to close the
-- sockets and long-polls that still use them (cell/gateway/revocations.py).
CREATE INDEX tokens_revoked_at ON tokens (revoked_at) WHERE revoked_at IS NOT NULL;
