-- job_outputs and job_inputs become rowid tables (they were WITHOUT ROWID), for two reasons:
-- * SQLite reads a blob incrementally (sqlite3_blob_open) only by rowid: a large output (a video) is then
--   streamed to a client a chunk at a time instead of read whole into memory;
-- * a WITHOUT ROWID table keeps the whole row in its key: every search that passes a large row reads all of it
--   (measured: cleanup's ON DELETE CASCADE checks next to one 150 MB output took minutes per batch of 200 jobs).
--   In a rowid table the primary key is a small separate index and the bytes are only read when asked for.
-- The rows are copied once: this needs free disk space about the size of the stored inputs and outputs.

CREATE TABLE job_outputs_rowid (
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (job_id, idx)
);
INSERT INTO job_outputs_rowid (job_id, idx, filename, content_type, data)
SELECT job_id, idx, filename, content_type, data FROM job_outputs;
DROP TABLE job_outputs;
ALTER TABLE job_outputs_rowid RENAME TO job_outputs;

CREATE TABLE job_inputs_rowid (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx    INTEGER NOT NULL,
    name   TEXT NOT NULL,
    data   BLOB NOT NULL,
    PRIMARY KEY (job_id, idx)
);
INSERT INTO job_inputs_rowid (job_id, idx, name, data) SELECT job_id, idx, name, data FROM job_inputs;
DROP TABLE job_inputs;
ALTER TABLE job_inputs_rowid RENAME TO job_inputs;
