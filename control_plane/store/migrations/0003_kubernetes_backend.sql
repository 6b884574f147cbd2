-- Cells provisioned by the kubernetes backend (one Helm release per cell).
ALTER TABLE cells DROP CONSTRAINT cells_backend_check;
ALTER TABLE cells ADD CONSTRAINT cells_backend_check CHECK (backend IN ('local', 'endpoints', 'kubernetes'));
