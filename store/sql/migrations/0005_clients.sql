-- Jobs belong to the client (named API key) that created them; jobs from before are API_KEY's ("default").
ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT 'default';
-- a client's job list, newest first, optionally by status; its pending count (MAX pending per key)
CREATE INDEX jobs_owner_created ON jobs (owner, created_at, id);
CREATE INDEX jobs_owner_status ON jobs (owner, status);

-- what admins did (cleanup, stuck-job reset, job deletion, key changes): kept like finished jobs
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    at     REAL NOT NULL,
    actor  TEXT NOT NULL,              -- the client's name, never its key
    action TEXT NOT NULL,              -- e.g. admin.cleanup, keys.add
    target TEXT,                       -- a job id, a client name
    result TEXT NOT NULL,              -- ok, or the HTTP status / error
    detail TEXT                        -- JSON
);
CREATE INDEX audit_at ON audit (at);
