-- What the daemon did to keep itself running, counted for the metrics and /health (issue 12): a ComfyUI
-- restarted by the watchdog or for its memory, memory freed after an out-of-memory error, scheduled backups.
-- One row per action: how often, when last, and what the last one said.
CREATE TABLE operations (
    name        TEXT PRIMARY KEY,
    count       INTEGER NOT NULL DEFAULT 0,
    last_at     REAL NOT NULL,
    last_detail TEXT                          -- JSON object
);
