-- Sign-in attempts: the audit of failed (and throttled) sign-ins, and what throttling counts
-- (cell/actions/auth.py). Kept by the cell where they happened: not moved with a workspace.
-- ``email`` is as typed (normalised to lower case), whether or not an account has it.

CREATE TABLE sign_in_attempts (
    workspace_id text NOT NULL,
    id bigint GENERATED ALWAYS AS IDENTITY,
    email text NOT NULL,
    address text NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('ok', 'failed', 'throttled')),
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id)
);

CREATE INDEX sign_in_attempts_account ON sign_in_attempts (workspace_id, email, at);
CREATE INDEX sign_in_attempts_address ON sign_in_attempts (address, at);
