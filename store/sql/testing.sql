-- Queries for tests and benchmarks only: bulk data a real daemon would take hours to make.

-- name: fill_jobs
-- :count jobs in one state, created (and for terminal states finished) at :at
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
INSERT INTO jobs (id, status, priority, request, created_at, started_at, completed_at, attempts)
SELECT lower(hex(randomblob(16))), :status, 0, '{"workflow":{},"options":{}}', :at + i * 1e-6,
       CASE WHEN :status <> 'pending' THEN :at END,
       CASE WHEN :status IN ('completed', 'failed', 'cancelled') THEN :at END,
       CASE WHEN :status <> 'pending' THEN 1 ELSE 0 END
FROM n;

-- name: fill_outputs
-- a stored output of :size random bytes for each finished job completed at :at that has none
INSERT INTO job_outputs (job_id, idx, filename, content_type, data)
SELECT id, 0, 'filler.bin', 'application/octet-stream', randomblob(:size) FROM jobs
WHERE status IN ('completed', 'failed', 'cancelled') AND completed_at = :at
  AND NOT EXISTS (SELECT 1 FROM job_outputs WHERE job_id = jobs.id);
