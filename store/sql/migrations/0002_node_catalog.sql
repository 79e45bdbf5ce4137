-- The node classes ComfyUI has installed and the inputs of each that name files (from its /object_info),
-- written by an executor when its ComfyUI is ready, read by the transports to check workflows at submit.
-- One row: the whole catalog is replaced at once, and readers notice a change by its digest.
CREATE TABLE node_catalog (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    digest     TEXT NOT NULL,
    catalog    TEXT NOT NULL,                  -- JSON {class_type: [input name, ...]}
    updated_at REAL NOT NULL
);
