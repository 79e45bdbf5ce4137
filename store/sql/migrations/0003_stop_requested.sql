-- A running job over the stuck-job limit whose executor still heartbeats is not requeued behind its back:
-- the flag asks that executor to stop it (interrupt in ComfyUI, then failed with a `timeout` error).
ALTER TABLE jobs ADD COLUMN stop_requested INTEGER NOT NULL DEFAULT 0;
