-- Named queries of clients: jobs' owners, per-client counts and the audit table (store/clients.py).

-- name: owner_of
SELECT owner FROM jobs WHERE id = :id;

-- name: set_owner
UPDATE jobs SET owner = :owner WHERE id = :id;

-- name: pending_of
SELECT count(*) FROM jobs INDEXED BY jobs_owner_status WHERE owner = :owner AND status = 'pending';

-- name: counts_by_owner
SELECT owner, status, count(*) FROM jobs INDEXED BY jobs_owner_status GROUP BY owner, status;

-- name: list_job_infos_of
SELECT id, status, priority, result, error, created_at, started_at, completed_at, attempts, max_attempts,
       timeout_s, worker_id, heartbeat_at, progress, cancel_requested
FROM jobs INDEXED BY jobs_owner_created
WHERE owner = :owner AND (created_at, id) < (:before_created, :before_id)
ORDER BY created_at DESC, id DESC LIMIT :limit;

-- name: list_job_infos_of_by_status
SELECT id, status, priority, result, error, created_at, started_at, completed_at, attempts, max_attempts,
       timeout_s, worker_id, heartbeat_at, progress, cancel_requested
FROM jobs INDEXED BY jobs_owner_created
WHERE owner = :owner AND status = :status AND (created_at, id) < (:before_created, :before_id)
ORDER BY created_at DESC, id DESC LIMIT :limit;

-- name: insert_audit
INSERT INTO audit (at, actor, action, target, result, detail) VALUES (:at, :actor, :action, :target, :result, :detail);

-- name: list_audit
SELECT id, at, actor, action, target, result, detail FROM audit WHERE id < :before ORDER BY id DESC LIMIT :limit;

-- name: cleanup_audit
DELETE FROM audit WHERE at < :cutoff;
