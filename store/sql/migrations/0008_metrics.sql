-- Figures for /metrics that every process adds to (the executor and the supervisor live in other processes than
-- the HTTP transport that serves them): counters and histograms kept in the store, bounded in size (a row per
-- name, label set and bucket, never per job). Job figures are kept by triggers, so every path that ends or
-- requeues a job (executor, recovery, cancel, reset-stuck) counts without knowing it.

-- seconds the job's prompt ran in ComfyUI (from its start to its end there), set by the executor as it ends the job
ALTER TABLE jobs ADD COLUMN comfyui_s REAL;

-- a counter: its value only grows (labels: a JSON object, e.g. {"to":"pending"})
CREATE TABLE metric_counters (
    name   TEXT NOT NULL,
    labels TEXT NOT NULL,
    value  REAL NOT NULL,
    PRIMARY KEY (name, labels)
) WITHOUT ROWID;

-- a histogram's bucket bounds (a row per upper bound; 9e999 is +Inf)
CREATE TABLE metric_bounds (
    name TEXT NOT NULL,
    le   REAL NOT NULL,
    PRIMARY KEY (name, le)
) WITHOUT ROWID;

-- a histogram's buckets (n: observations above the bound below le and up to le; a missing row counts 0; the
-- reader sums them up), its count and sum: an observation writes one bucket row, not every bound above it
CREATE TABLE metric_buckets (
    name   TEXT NOT NULL,
    labels TEXT NOT NULL,
    le     REAL NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (name, labels, le)
) WITHOUT ROWID;
CREATE TABLE metric_histograms (
    name   TEXT NOT NULL,
    labels TEXT NOT NULL,
    count  INTEGER NOT NULL,
    sum    REAL NOT NULL,
    PRIMARY KEY (name, labels)
) WITHOUT ROWID;

INSERT INTO metric_bounds (name, le)
SELECT h.name, b.value FROM (SELECT 'comfyui_worker_job_queue_wait_seconds' AS name
                             UNION ALL SELECT 'comfyui_worker_job_comfyui_seconds'
                             UNION ALL SELECT 'comfyui_worker_job_duration_seconds') AS h,
     json_each('[0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]') AS b;
INSERT INTO metric_bounds (name, le)
VALUES ('comfyui_worker_job_queue_wait_seconds', 9e999), ('comfyui_worker_job_comfyui_seconds', 9e999),
       ('comfyui_worker_job_duration_seconds', 9e999);

-- a job that ended: its queue wait (created to last claim; none if it never ran), its time in ComfyUI (when the
-- executor saw its prompt run) and its whole time (created to end), labelled by outcome
CREATE TRIGGER jobs_metrics_end AFTER UPDATE OF status ON jobs
WHEN OLD.status <> NEW.status AND NEW.status IN ('completed', 'failed', 'cancelled') BEGIN
    INSERT INTO metric_buckets (name, labels, le, n)
    SELECT v.name, json_object('outcome', NEW.status),
           (SELECT min(b.le) FROM metric_bounds AS b WHERE b.name = v.name AND b.le >= v.value), 1
    FROM (SELECT 'comfyui_worker_job_queue_wait_seconds' AS name, NEW.started_at - NEW.created_at AS value
          UNION ALL SELECT 'comfyui_worker_job_comfyui_seconds', NEW.comfyui_s
          UNION ALL SELECT 'comfyui_worker_job_duration_seconds', NEW.completed_at - NEW.created_at) AS v
    WHERE v.value IS NOT NULL
    ON CONFLICT (name, labels, le) DO UPDATE SET n = n + 1;
    INSERT INTO metric_histograms (name, labels, count, sum)
    SELECT v.name, json_object('outcome', NEW.status), 1, max(v.value, 0)
    FROM (SELECT 'comfyui_worker_job_queue_wait_seconds' AS name, NEW.started_at - NEW.created_at AS value
          UNION ALL SELECT 'comfyui_worker_job_comfyui_seconds', NEW.comfyui_s
          UNION ALL SELECT 'comfyui_worker_job_duration_seconds', NEW.completed_at - NEW.created_at) AS v
    WHERE v.value IS NOT NULL
    ON CONFLICT (name, labels) DO UPDATE SET count = count + 1, sum = sum + excluded.sum;
END;

-- running -> pending: retried (requeue, recovery: the attempt counted) or released (shutdown: it did not)
CREATE TRIGGER jobs_metrics_requeued AFTER UPDATE OF status ON jobs
WHEN OLD.status = 'running' AND NEW.status = 'pending' BEGIN
    INSERT INTO metric_counters (name, labels, value)
    VALUES (CASE WHEN NEW.attempts < OLD.attempts THEN 'comfyui_worker_jobs_released_total'
                 ELSE 'comfyui_worker_jobs_retried_total' END, '{}', 1)
    ON CONFLICT (name, labels) DO UPDATE SET value = value + 1;
END;
