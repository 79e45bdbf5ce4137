-- Where a job ran, and its job on a RunPod endpoint (the overflow forwarder, issue 16).
-- ran_on: 'local' (claimed by an executor of this daemon) or 'runpod' (claimed by the forwarder); set at claim.
ALTER TABLE jobs ADD COLUMN ran_on TEXT;
-- RunPod's id of the remote job, written as soon as its POST /run answered
ALTER TABLE jobs ADD COLUMN remote_id TEXT;
-- written (and committed) BEFORE the POST /run: a job with it but no remote_id may be on RunPod under an id
-- nobody knows, so it is never sent to RunPod again (it may still run locally)
ALTER TABLE jobs ADD COLUMN remote_sent_at REAL;

-- jobs ended per place and status since the store was made (counters: never decremented by cleanup)
CREATE TABLE job_places (
    place  TEXT NOT NULL,
    status TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (place, status)
) WITHOUT ROWID;

CREATE TRIGGER jobs_place_ended AFTER UPDATE OF status ON jobs
WHEN OLD.status = 'running' AND NEW.status IN ('completed', 'failed', 'cancelled') AND NEW.ran_on IS NOT NULL
BEGIN
    INSERT INTO job_places (place, status, n) VALUES (NEW.ran_on, NEW.status, 1)
    ON CONFLICT (place, status) DO UPDATE SET n = n + 1;
END;
