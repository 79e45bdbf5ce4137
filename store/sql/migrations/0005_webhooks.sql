-- Webhooks (issue 13): a job's events reach the URL its client gave, at least once, whatever crashes.
--
-- The outbox contract: every event row is written by a trigger on `jobs`, inside the very statement (hence the
-- transaction) that changed the job. No code path can move a job without its event (claim, complete, fail,
-- cancel, requeue, release, recovery, reset-stuck, and any added later), and no crash can keep one without the
-- other. The delivery process (transports/webhooks) claims due rows with a lease, records every attempt, and
-- marks a row delivered (2xx) or failed (410, or older than WEBHOOK_MAX_AGE_S).

-- where a job's events go, and which ones (set at submit; gone with the job)
CREATE TABLE job_webhooks (
    job_id           TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    url              TEXT NOT NULL,
    events           TEXT NOT NULL,            -- JSON list: job.started, job.progress, job.completed, ...
    progress_every_s REAL NOT NULL DEFAULT 5   -- job.progress at most this often
) WITHOUT ROWID;

-- one row per delivery of an event; a redelivery is a new row with the same event_id (the webhook-id)
CREATE TABLE webhook_outbox (
    id          INTEGER PRIMARY KEY,
    event_id    TEXT NOT NULL,                 -- webhook-id: the same on every attempt and redelivery
    job_id      TEXT NOT NULL,                 -- no foreign key: an event outlives its job's deletion
    event       TEXT NOT NULL,
    url         TEXT NOT NULL,
    job         TEXT NOT NULL,                 -- JSON: the job's columns at the event (not its request)
    created_at  REAL NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     REAL NOT NULL,                 -- when it is due (pending)
    lease_owner TEXT,                          -- the delivery process trying it now
    lease_until REAL,                          -- past this, the attempt is presumed dead: due again
    done_at     REAL
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_at) WHERE state = 'pending';
CREATE INDEX webhook_outbox_job ON webhook_outbox (job_id, event, created_at);
CREATE INDEX webhook_outbox_done ON webhook_outbox (done_at) WHERE state <> 'pending';

-- every attempt: when, the answer (status code) or the error, and the next try
CREATE TABLE webhook_attempts (
    delivery    INTEGER NOT NULL REFERENCES webhook_outbox (id) ON DELETE CASCADE,
    at          REAL NOT NULL,
    status_code INTEGER,
    error       TEXT,
    next_at     REAL                           -- NULL: no more tries (delivered, 410, too old)
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery, at);

-- totals since the store was made, for metrics (rows are cleaned up, totals stay)
CREATE TABLE webhook_counts (
    name TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO webhook_counts (name, n) VALUES ('delivered', 0), ('failed_attempts', 0), ('given_up', 0);

-- pending -> running is job.started; running -> completed | failed | cancelled (and pending -> cancelled) is
-- job.<status>. running -> pending (requeue, release) is no event: job.started comes again on the next claim.
CREATE TRIGGER jobs_webhook_status AFTER UPDATE OF status ON jobs
WHEN OLD.status <> NEW.status AND NEW.status <> 'pending'
BEGIN
    INSERT INTO webhook_outbox (event_id, job_id, event, url, job, created_at, next_at)
    SELECT 'msg_' || lower(hex(randomblob(16))), NEW.id, ev.name, w.url,
           json_object('id', NEW.id, 'status', NEW.status, 'priority', NEW.priority, 'result', json(NEW.result),
                       'error', json(NEW.error), 'created_at', NEW.created_at, 'started_at', NEW.started_at,
                       'completed_at', NEW.completed_at, 'attempts', NEW.attempts,
                       'max_attempts', NEW.max_attempts, 'timeout_s', NEW.timeout_s,
                       'progress', json(NEW.progress), 'cancel_requested', NEW.cancel_requested),
           ev.at, ev.at
    FROM job_webhooks AS w,
         (SELECT CASE NEW.status WHEN 'running' THEN 'job.started' ELSE 'job.' || NEW.status END AS name,
                 coalesce(CASE NEW.status WHEN 'running' THEN NEW.started_at ELSE NEW.completed_at END,
                          (julianday('now') - 2440587.5) * 86400.0) AS at) AS ev
    WHERE w.job_id = NEW.id AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE value = ev.name);
END;

-- running -> running with new progress is job.progress, at most once per progress_every_s per job
CREATE TRIGGER jobs_webhook_progress AFTER UPDATE OF progress ON jobs
WHEN NEW.status = 'running' AND NEW.progress IS NOT NULL AND NEW.heartbeat_at IS NOT NULL
BEGIN
    INSERT INTO webhook_outbox (event_id, job_id, event, url, job, created_at, next_at)
    SELECT 'msg_' || lower(hex(randomblob(16))), NEW.id, 'job.progress', w.url,
           json_object('id', NEW.id, 'status', NEW.status, 'priority', NEW.priority, 'result', json(NEW.result),
                       'error', json(NEW.error), 'created_at', NEW.created_at, 'started_at', NEW.started_at,
                       'completed_at', NEW.completed_at, 'attempts', NEW.attempts,
                       'max_attempts', NEW.max_attempts, 'timeout_s', NEW.timeout_s,
                       'progress', json(NEW.progress), 'cancel_requested', NEW.cancel_requested),
           NEW.heartbeat_at, NEW.heartbeat_at
    FROM job_webhooks AS w
    WHERE w.job_id = NEW.id AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE value = 'job.progress')
      AND NOT EXISTS (SELECT 1 FROM webhook_outbox AS o
                      WHERE o.job_id = NEW.id AND o.event = 'job.progress'
                        AND o.created_at > NEW.heartbeat_at - w.progress_every_s);
END;
