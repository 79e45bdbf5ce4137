-- The warm-up of each ComfyUI instance (WARMUP_WORKFLOW): written by its executor when it runs the warm-up
-- after ComfyUI started or came back, reset to pending by the supervisor when that ComfyUI stops running.
-- Read by the transports (/health, /ready) and for metrics. One row per instance, kept across warm-ups.
CREATE TABLE warmups (
    instance    INTEGER PRIMARY KEY,
    worker_id   TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'running', 'ok', 'failed')),
    runs        INTEGER NOT NULL DEFAULT 0,    -- warm-ups started since the daemon started
    failures    INTEGER NOT NULL DEFAULT 0,    -- of which failed
    started_at  REAL,                          -- the last warm-up's start (seconds since the epoch)
    finished_at REAL,                          -- the last finished warm-up's end
    duration_s  REAL,                          -- the last finished warm-up's duration
    error       TEXT,                          -- JSON: ComfyUI's error of the last warm-up, when it failed
    updated_at  REAL NOT NULL
);
