-- Named queries of the job store. Every state-changing statement names the states it may leave.
-- Claim order everywhere: priority DESC, created_at, rowid (the jobs_pending index).
-- Every statement that ends a job removes the request's comfy_org_api_key: it is kept only while the job can run.

-- name: insert_job
INSERT INTO jobs (id, status, priority, request, created_at, max_attempts, timeout_s, owner)
VALUES (:id, 'pending', :priority, :request, :created_at, :max_attempts, :timeout_s, :owner);

-- name: insert_input
INSERT INTO job_inputs (job_id, idx, name, data) VALUES (:job_id, :idx, :name, :data);

-- name: get_job
SELECT * FROM jobs WHERE id = :id;

-- name: get_status
SELECT status FROM jobs WHERE id = :id;

-- name: get_inputs
SELECT idx, name, data FROM job_inputs WHERE job_id = :job_id ORDER BY idx;

-- name: get_output
SELECT idx, filename, content_type, data FROM job_outputs WHERE job_id = :job_id AND idx = :idx;

-- name: get_outputs
SELECT idx, filename, content_type, data FROM job_outputs WHERE job_id = :job_id ORDER BY idx;

-- name: insert_output
INSERT INTO job_outputs (job_id, idx, filename, content_type, data)
VALUES (:job_id, :idx, :filename, :content_type, :data);

-- name: list_jobs
SELECT * FROM jobs
WHERE (created_at, id) < (:before_created, :before_id)
ORDER BY created_at DESC, id DESC LIMIT :limit;

-- name: list_jobs_by_status
SELECT * FROM jobs
WHERE status = :status AND (created_at, id) < (:before_created, :before_id)
ORDER BY created_at DESC, id DESC LIMIT :limit;

-- name: claim
-- pending -> running
UPDATE jobs
SET status = 'running', worker_id = :worker_id, started_at = :now, heartbeat_at = :now,
    attempts = attempts + 1, progress = NULL, stop_requested = 0
WHERE rowid = (SELECT rowid FROM jobs INDEXED BY jobs_pending WHERE status = 'pending'
               ORDER BY priority DESC, created_at, rowid LIMIT 1)
  AND status = 'pending'
RETURNING *;

-- name: heartbeat
-- running -> running (lease renewed); returns the jobs and whether a cancel or a stop was asked for.
-- :ids (a JSON list, or NULL for all) names the jobs the worker really runs: any other stays stale
UPDATE jobs SET heartbeat_at = :now
WHERE worker_id = :worker_id AND status = 'running'
  AND (:ids IS NULL OR id IN (SELECT value FROM json_each(:ids)))
RETURNING id, cancel_requested, stop_requested;

-- name: record_progress
-- running -> running
UPDATE jobs SET progress = :progress, heartbeat_at = :now
WHERE id = :id AND worker_id = :worker_id AND status = 'running';

-- name: complete
-- running -> completed
UPDATE jobs SET status = 'completed', result = :result, completed_at = :now, heartbeat_at = NULL,
    request = CASE WHEN instr(request, '"comfy_org_api_key"')
                   THEN json_remove(request, '$.options.comfy_org_api_key') ELSE request END
WHERE id = :id AND worker_id = :worker_id AND status = 'running';

-- name: fail
-- running -> failed
UPDATE jobs SET status = 'failed', result = :result, error = :error, completed_at = :now, heartbeat_at = NULL,
    request = CASE WHEN instr(request, '"comfy_org_api_key"')
                   THEN json_remove(request, '$.options.comfy_org_api_key') ELSE request END
WHERE id = :id AND worker_id = :worker_id AND status = 'running';

-- name: finish_cancelled
-- running -> cancelled (the executor stopped it in ComfyUI; outputs produced so far are kept)
UPDATE jobs SET status = 'cancelled', result = :result, error = :error, completed_at = :now, heartbeat_at = NULL,
    request = CASE WHEN instr(request, '"comfy_org_api_key"')
                   THEN json_remove(request, '$.options.comfy_org_api_key') ELSE request END
WHERE id = :id AND worker_id = :worker_id AND status = 'running';

-- name: cancel_pending
-- pending -> cancelled
UPDATE jobs SET status = 'cancelled', completed_at = :now, cancel_requested = 1,
    request = CASE WHEN instr(request, '"comfy_org_api_key"')
                   THEN json_remove(request, '$.options.comfy_org_api_key') ELSE request END,
    error = '{"type":"cancelled","message":"cancelled before it started"}'
WHERE id = :id AND status = 'pending';

-- name: request_cancel
-- running -> running (cancel_requested: the executor interrupts it)
UPDATE jobs SET cancel_requested = 1 WHERE id = :id AND status = 'running';

-- name: requeue
-- running -> pending (attempts left) | failed (attempts used up) | cancelled (cancel was asked for)
UPDATE jobs
SET status = CASE WHEN cancel_requested THEN 'cancelled'
                  WHEN attempts < max_attempts THEN 'pending' ELSE 'failed' END,
    error = CASE WHEN cancel_requested THEN '{"type":"cancelled","message":"cancelled"}'
                 WHEN attempts < max_attempts THEN error ELSE :error END,
    completed_at = CASE WHEN cancel_requested OR attempts >= max_attempts THEN :now END,
    request = CASE WHEN (cancel_requested OR attempts >= max_attempts) AND instr(request, '"comfy_org_api_key"')
                   THEN json_remove(request, '$.options.comfy_org_api_key') ELSE request END,
    worker_id = NULL, heartbeat_at = NULL, progress = NULL
WHERE id = :id AND worker_id = :worker_id AND status = 'running'
RETURNING id, status;

-- name: release
-- running -> pending without spending an attempt (shutdown before the job ran to its end)
UPDATE jobs
SET status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'pending' END,
    error = CASE WHEN cancel_requested THEN '{"type":"cancelled","message":"cancelled"}' ELSE error END,
    completed_at = CASE WHEN cancel_requested THEN :now END,
    request = CASE WHEN cancel_requested AND instr(request, '"comfy_org_api_key"')
                   THEN json_remove(request, '$.options.comfy_org_api_key') ELSE request END,
    attempts = max(attempts - 1, 0), worker_id = NULL, heartbeat_at = NULL, progress = NULL
WHERE id = :id AND worker_id = :worker_id AND status = 'running'
RETURNING id, status;

-- name: recover
-- running -> pending | failed | cancelled, for the jobs of a dead worker (:worker_id) or with a stale heartbeat
-- (:stale_before); with :limit_s (reset_stuck) only those also over the stuck-job limit (see request_stop).
-- An unused condition is given as NULL
UPDATE jobs
SET status = CASE WHEN cancel_requested THEN 'cancelled'
                  WHEN attempts < max_attempts THEN 'pending' ELSE 'failed' END,
    error = CASE WHEN cancel_requested THEN '{"type":"cancelled","message":"cancelled"}'
                 WHEN attempts < max_attempts THEN error ELSE :error END,
    completed_at = CASE WHEN cancel_requested OR attempts >= max_attempts THEN :now END,
    request = CASE WHEN (cancel_requested OR attempts >= max_attempts) AND instr(request, '"comfy_org_api_key"')
                   THEN json_remove(request, '$.options.comfy_org_api_key') ELSE request END,
    worker_id = NULL, heartbeat_at = NULL, progress = NULL
WHERE status = 'running'
  AND (worker_id = :worker_id OR heartbeat_at < :stale_before)
  AND (:limit_s IS NULL
       OR started_at + :limit_s + CASE WHEN :own_deadline THEN coalesce(timeout_s, :default_timeout_s) ELSE 0 END
          < :now)
RETURNING id, status;

-- name: request_stop
-- running -> running (stop_requested: its executor interrupts it and fails it with `timeout`), for the jobs
-- over the stuck-job limit whose heartbeat is fresh: their executor is alive, so they are never requeued
-- behind its back. The limit is :limit_s since the claim, plus the job's own deadline when :own_deadline
-- (the hourly maintenance), so a job within its deadline is never stopped by it
UPDATE jobs SET stop_requested = 1
WHERE status = 'running' AND heartbeat_at >= :stale_before
  AND started_at + :limit_s + CASE WHEN :own_deadline THEN coalesce(timeout_s, :default_timeout_s) ELSE 0 END
      < :now
RETURNING id;

-- name: cleanup_batch
-- completed | failed | cancelled -> deleted, oldest first, a batch at a time
DELETE FROM jobs WHERE rowid IN (
    SELECT rowid FROM jobs INDEXED BY jobs_finished
    WHERE status IN ('completed', 'failed', 'cancelled') AND completed_at < :cutoff
    ORDER BY completed_at LIMIT :batch);

-- name: delete_terminal
-- completed | failed | cancelled -> deleted
DELETE FROM jobs WHERE id = :id AND status IN ('completed', 'failed', 'cancelled');

-- name: counts
SELECT status, n FROM job_counts;

-- name: upsert_component
INSERT INTO components (name, pid, state, restarts, detail, updated_at)
VALUES (:name, :pid, :state, :restarts, :detail, :now)
ON CONFLICT (name) DO UPDATE SET pid = excluded.pid, state = excluded.state, restarts = excluded.restarts,
    detail = excluded.detail, updated_at = excluded.updated_at;

-- name: list_components
SELECT name, pid, state, restarts, detail, updated_at FROM components ORDER BY name;

-- name: delete_components
DELETE FROM components;

-- name: pending_position
-- a pending job's place in the claim order (1 = next), counting only the jobs ahead on the jobs_pending index
SELECT 1 + (SELECT count(*) FROM jobs INDEXED BY jobs_pending
            WHERE status = 'pending' AND priority > me.priority)
         + (SELECT count(*) FROM jobs INDEXED BY jobs_pending
            WHERE status = 'pending' AND priority = me.priority AND created_at < me.created_at)
         + (SELECT count(*) FROM jobs INDEXED BY jobs_pending
            WHERE status = 'pending' AND priority = me.priority AND created_at = me.created_at
              AND rowid < me.rowid)
FROM jobs AS me WHERE me.id = :id AND me.status = 'pending';

-- name: put_node_catalog
-- the catalog ComfyUI's /object_info gave an executor; rewritten only when it changed
INSERT INTO node_catalog (id, digest, catalog, updated_at) VALUES (1, :digest, :catalog, :now)
ON CONFLICT (id) DO UPDATE SET digest = excluded.digest, catalog = excluded.catalog,
    updated_at = excluded.updated_at
WHERE node_catalog.digest <> excluded.digest;

-- name: get_node_catalog_digest
SELECT digest FROM node_catalog WHERE id = 1;

-- name: get_node_catalog
SELECT digest, catalog FROM node_catalog WHERE id = 1;
-- name: evictable
-- the oldest finished jobs that still have files in the store (STORE_MAX_MB), from :after on
SELECT id, completed_at, result,
       (SELECT coalesce(sum(length(data)), 0) FROM job_outputs WHERE job_id = jobs.id)
       + (SELECT coalesce(sum(length(data)), 0) FROM job_inputs WHERE job_id = jobs.id) AS bytes
FROM jobs INDEXED BY jobs_finished
WHERE status IN ('completed', 'failed', 'cancelled') AND completed_at >= :after
  AND (EXISTS (SELECT 1 FROM job_outputs WHERE job_id = jobs.id)
       OR EXISTS (SELECT 1 FROM job_inputs WHERE job_id = jobs.id))
ORDER BY completed_at LIMIT :batch;

-- name: mark_outputs_removed
-- completed | failed | cancelled -> same state, its result entries marked removed
UPDATE jobs SET result = :result WHERE id = :id AND status IN ('completed', 'failed', 'cancelled');

-- name: delete_outputs
DELETE FROM job_outputs WHERE job_id = :job_id
  AND (SELECT status FROM jobs WHERE id = :job_id) IN ('completed', 'failed', 'cancelled');

-- name: delete_inputs
DELETE FROM job_inputs WHERE job_id = :job_id
  AND (SELECT status FROM jobs WHERE id = :job_id) IN ('completed', 'failed', 'cancelled');

-- Reads without the request column (the workflow, possibly megabytes): status pages, job lists and waiters.
-- Columns in the order of store.model.JobInfo.

-- name: get_job_info
SELECT id, status, priority, result, error, created_at, started_at, completed_at, attempts, max_attempts,
       timeout_s, worker_id, heartbeat_at, progress, cancel_requested
FROM jobs WHERE id = :id;

-- name: job_states
-- the status of every job named in :ids (a JSON list) that still exists: what a process's watcher looks at
-- after each commit, before it reads the ended ones with job_infos
SELECT id, status FROM jobs WHERE id IN (SELECT value FROM json_each(:ids));

-- name: job_infos
-- every job named in :ids (a JSON list) that still exists: one read for all the waiters of a process
SELECT id, status, priority, result, error, created_at, started_at, completed_at, attempts, max_attempts,
       timeout_s, worker_id, heartbeat_at, progress, cancel_requested
FROM jobs WHERE id IN (SELECT value FROM json_each(:ids));

-- name: list_job_infos
SELECT id, status, priority, result, error, created_at, started_at, completed_at, attempts, max_attempts,
       timeout_s, worker_id, heartbeat_at, progress, cancel_requested
FROM jobs
WHERE (created_at, id) < (:before_created, :before_id)
ORDER BY created_at DESC, id DESC LIMIT :limit;

-- name: list_job_infos_by_status
SELECT id, status, priority, result, error, created_at, started_at, completed_at, attempts, max_attempts,
       timeout_s, worker_id, heartbeat_at, progress, cancel_requested
FROM jobs
WHERE status = :status AND (created_at, id) < (:before_created, :before_id)
ORDER BY created_at DESC, id DESC LIMIT :limit;

-- name: output_refs
-- a job's outputs without their bytes (length() does not read a blob), and the row for incremental reads
SELECT idx, filename, content_type, length(data), rowid FROM job_outputs WHERE job_id = :job_id ORDER BY idx;

-- name: output_ref
SELECT idx, filename, content_type, length(data), rowid FROM job_outputs WHERE job_id = :job_id AND idx = :idx;

-- name: cancel_all_pending
-- pending -> cancelled, every pending job at once (RunPod's /purge-queue); running jobs are left alone
UPDATE jobs SET status = 'cancelled', completed_at = :now, cancel_requested = 1,
    request = CASE WHEN instr(request, '"comfy_org_api_key"')
                   THEN json_remove(request, '$.options.comfy_org_api_key') ELSE request END,
    error = '{"type":"cancelled","message":"cancelled before it started (queue purged)"}'
WHERE status = 'pending'
RETURNING id;

-- name: count_retried
-- live jobs on a later attempt: pending after at least one attempt, or running its second or later
SELECT count(*) FROM jobs
WHERE (status = 'pending' AND attempts > 0) OR (status = 'running' AND attempts > 1);
