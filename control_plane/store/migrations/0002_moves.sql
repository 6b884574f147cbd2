-- Moving workspaces between cells: one row per move (a persisted state machine the
-- orchestrator resumes after a restart), and one per drain (a batch of moves that
-- empties a cell a few at a time).

CREATE TABLE drains (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cell          text NOT NULL REFERENCES cells (name),
    status        text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'incomplete')),
    parallel      integer NOT NULL CHECK (parallel BETWEEN 1 AND 50),
    requested_by  text NOT NULL,
    role          text NOT NULL,
    reason        text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- One drain of a cell at a time.
CREATE UNIQUE INDEX drains_running ON drains (cell) WHERE status = 'running';

CREATE TABLE moves (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id     text NOT NULL REFERENCES workspaces (workspace_id),
    source           text NOT NULL REFERENCES cells (name),
    target           text NOT NULL REFERENCES cells (name),
    -- queued (waiting for its drain's turn), running (a task drives it), done, aborted,
    -- failed (stopped after repeated errors: `resume` or `abort` it).
    status           text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'aborted', 'failed')),
    phase            text NOT NULL CHECK (phase IN (
                         'planned', 'preparing', 'replicating', 'verifying', 'freezing', 'catching_up',
                         'verifying_frozen', 'switching', 'marking_moved', 'handing_over', 'unfreezing',
                         'cleaning', 'done', 'aborting', 'aborted')),
    drain_id         bigint REFERENCES drains (id),
    requested_by     text NOT NULL,
    role             text NOT NULL,
    reason           text,
    abort_requested  boolean NOT NULL DEFAULT false,
    progress         jsonb NOT NULL DEFAULT '{}',  -- rows per table, lag, verification, phase timings
    error            text,
    frozen_at        timestamptz,                  -- when the source refused W's writes (this attempt)
    freeze_ms        integer,                      -- the write-freeze window clients saw
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    cleaned_at       timestamptz,                  -- the source's old copy was deleted (gc)
    CHECK (source <> target)
);
-- A workspace has at most one move in flight; a failed one must be resumed or aborted first
-- (its subscription, publication and slot are named after the workspace).
CREATE UNIQUE INDEX moves_one_per_workspace ON moves (workspace_id)
    WHERE status IN ('queued', 'running', 'failed');
CREATE INDEX moves_unfinished ON moves (status) WHERE status IN ('queued', 'running');
CREATE INDEX moves_drain ON moves (drain_id) WHERE drain_id IS NOT NULL;
CREATE INDEX moves_workspace ON moves (workspace_id, id);
