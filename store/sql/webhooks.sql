-- Named queries of the webhook outbox (migration 0005; the events themselves are written by its triggers).
-- Every statement that moves a delivery names the state it may leave and the lease it must hold.

-- name: insert_job_webhook
INSERT INTO job_webhooks (job_id, url, events, progress_every_s) VALUES (:job_id, :url, :events, :progress_every_s);

-- name: claim_deliveries
-- pending -> pending (leased to :owner until :lease_until): the due deliveries nobody holds, oldest first
UPDATE webhook_outbox SET lease_owner = :owner, lease_until = :lease_until
WHERE id IN (SELECT id FROM webhook_outbox INDEXED BY webhook_outbox_due
             WHERE state = 'pending' AND next_at <= :now AND (lease_until IS NULL OR lease_until < :now)
             ORDER BY next_at LIMIT :limit)
  AND state = 'pending'
RETURNING id, event_id, job_id, event, url, job, created_at, attempts;

-- name: any_pending
-- whether any delivery waits at all (the supervisor starts the delivery process only then)
SELECT 1 FROM webhook_outbox INDEXED BY webhook_outbox_due WHERE state = 'pending' LIMIT 1;

-- name: any_due
-- a read before a claim: a wake-up with nothing due takes no write lock
SELECT 1 FROM webhook_outbox INDEXED BY webhook_outbox_due
WHERE state = 'pending' AND next_at <= :now AND (lease_until IS NULL OR lease_until < :now) LIMIT 1;

-- name: release_deliveries
-- pending (leased to :owner) -> pending (free): a delivery process restarted; its attempts in flight died
UPDATE webhook_outbox SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = :owner AND state = 'pending';

-- name: finish_attempt
-- pending (leased to :owner) -> pending (a retry at :next_at) | delivered | failed (no retry: :next_at NULL)
UPDATE webhook_outbox
SET state = :state, attempts = attempts + 1, next_at = coalesce(:next_at, next_at),
    lease_owner = NULL, lease_until = NULL, done_at = CASE WHEN :state = 'pending' THEN NULL ELSE :now END
WHERE id = :id AND state = 'pending' AND lease_owner = :owner;

-- name: insert_attempt
INSERT INTO webhook_attempts (delivery, at, status_code, error, next_at)
VALUES (:delivery, :at, :status_code, :error, :next_at);

-- name: count_webhook
UPDATE webhook_counts SET n = n + 1 WHERE name = :name;

-- name: job_deliveries
SELECT id, event_id, event, url, state, attempts, created_at, next_at, done_at
FROM webhook_outbox INDEXED BY webhook_outbox_job WHERE job_id = :job_id ORDER BY created_at, id;

-- name: delivery_attempts
SELECT delivery, at, status_code, error, next_at FROM webhook_attempts
WHERE delivery IN (SELECT id FROM webhook_outbox WHERE job_id = :job_id) ORDER BY delivery, at;

-- name: redeliver
-- the job's last event -> a new pending delivery of it, with the same event id (webhook-id)
INSERT INTO webhook_outbox (event_id, job_id, event, url, job, created_at, next_at)
SELECT event_id, job_id, event, url, job, created_at, :now FROM webhook_outbox
WHERE job_id = :job_id ORDER BY created_at DESC, id DESC LIMIT 1
RETURNING id;

-- name: webhook_counts
SELECT name, n FROM webhook_counts;

-- name: webhook_backlog
SELECT count(*), min(created_at) FROM webhook_outbox INDEXED BY webhook_outbox_due WHERE state = 'pending';

-- name: cleanup_deliveries
-- delivered | failed -> deleted, with their attempts, when done before :cutoff
DELETE FROM webhook_outbox WHERE rowid IN (
    SELECT rowid FROM webhook_outbox INDEXED BY webhook_outbox_done
    WHERE state <> 'pending' AND done_at < :cutoff LIMIT :batch);
