-- The job store. Timestamps are float seconds since the epoch; JSON columns hold msgspec-encoded text.

CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    status           TEXT NOT NULL
                     CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    priority         INTEGER NOT NULL DEFAULT 0,
    request          TEXT NOT NULL,            -- {"workflow": {...}, "options": {...}}
    result           TEXT,                     -- JSON, output entries refer to job_outputs by index
    error            TEXT,                     -- JSON {"type", "message", ...}
    created_at       REAL NOT NULL,
    started_at       REAL,
    completed_at     REAL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    timeout_s        REAL,
    worker_id        TEXT,
    heartbeat_at     REAL,
    progress         TEXT,                     -- JSON {"value", "max", "node"}
    cancel_requested INTEGER NOT NULL DEFAULT 0
);

-- claim order: priority, then age
CREATE INDEX jobs_pending ON jobs (priority DESC, created_at) WHERE status = 'pending';
-- listing, newest first, optionally by status
CREATE INDEX jobs_created ON jobs (created_at, id);
CREATE INDEX jobs_status_created ON jobs (status, created_at, id);
-- recovery of a worker's jobs and of stale heartbeats
CREATE INDEX jobs_running ON jobs (worker_id, heartbeat_at) WHERE status = 'running';
-- cleanup of terminal jobs by age
CREATE INDEX jobs_finished ON jobs (completed_at) WHERE status IN ('completed', 'failed', 'cancelled');

-- input images of a job, as bytes
CREATE TABLE job_inputs (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx    INTEGER NOT NULL,
    name   TEXT NOT NULL,
    data   BLOB NOT NULL,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;

-- output files of a job, as bytes (absent when uploaded to S3)
CREATE TABLE job_outputs (
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;

-- counts per status, kept by triggers so stats stay O(1) at millions of rows
CREATE TABLE job_counts (
    status TEXT PRIMARY KEY,
    n      INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO job_counts (status, n)
VALUES ('pending', 0), ('running', 0), ('completed', 0), ('failed', 0), ('cancelled', 0);

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    UPDATE job_counts SET n = n + 1 WHERE status = NEW.status;
END;
CREATE TRIGGER jobs_count_update AFTER UPDATE OF status ON jobs WHEN OLD.status <> NEW.status BEGIN
    UPDATE job_counts SET n = n - 1 WHERE status = OLD.status;
    UPDATE job_counts SET n = n + 1 WHERE status = NEW.status;
END;
CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE job_counts SET n = n - 1 WHERE status = OLD.status;
END;

-- what each component of the daemon says of itself, for /health
CREATE TABLE components (
    name       TEXT PRIMARY KEY,
    pid        INTEGER,
    state      TEXT NOT NULL,
    restarts   INTEGER NOT NULL DEFAULT 0,
    detail     TEXT,
    updated_at REAL NOT NULL
) WITHOUT ROWID;
