"""The seed's HTTP API, written its way, as the benchmark's baseline: FastAPI + pydantic + stdlib sqlite3.

As in the seed's ``api/job_manager.py``: a Job dataclass, a JobManager that opens a sqlite3 connection per
operation under a threading lock (SQLite's defaults: rollback journal), and FastAPI endpoints on top.
Served with the same uvicorn options as ours (uvloop, httptools, no access log) so only the app differs.

    python -P bench/seed_baseline.py --port 8001 --db /tmp/seed.db

(``-P``: bench/http.py, next to this file, would otherwise shadow the stdlib's http package.)
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel


@dataclass
class Job:
    id: str
    status: str
    workflow: dict[str, Any]
    images: list[dict[str, Any]] | None
    result: dict[str, Any] | None
    error: str | None
    created_at: float
    started_at: float | None
    completed_at: float | None


class JobManager:
    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self.lock = threading.Lock()
        with sqlite3.connect(db_path) as conn:
            conn.execute("""CREATE TABLE IF NOT EXISTS jobs (
                id TEXT PRIMARY KEY, status TEXT NOT NULL, workflow TEXT NOT NULL, images TEXT,
                result TEXT, error TEXT, created_at REAL NOT NULL, started_at REAL, completed_at REAL)""")
            conn.execute("CREATE INDEX IF NOT EXISTS idx_status ON jobs (status)")
            conn.execute("CREATE INDEX IF NOT EXISTS idx_created_at ON jobs (created_at)")

    def create_job(self, workflow: dict[str, Any], images: list[dict[str, Any]] | None) -> str:
        job_id = str(uuid.uuid4())
        with self.lock, sqlite3.connect(self.db_path) as conn:
            conn.execute("INSERT INTO jobs (id, status, workflow, images, created_at) VALUES (?, ?, ?, ?, ?)",
                         (job_id, "pending", json.dumps(workflow), json.dumps(images) if images else None,
                          time.time()))
            conn.commit()
        return job_id

    def get_job(self, job_id: str) -> Job | None:
        with self.lock, sqlite3.connect(self.db_path) as conn:
            row = conn.execute("SELECT id, status, workflow, images, result, error, created_at, started_at, "
                               "completed_at FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        return Job(id=row[0], status=row[1], workflow=json.loads(row[2]),
                   images=json.loads(row[3]) if row[3] else None,
                   result=json.loads(row[4]) if row[4] else None,
                   error=row[5], created_at=row[6], started_at=row[7], completed_at=row[8])


class ImageInput(BaseModel):
    name: str
    image: str


class JobRequest(BaseModel):
    workflow: dict[str, Any]
    images: list[ImageInput] | None = None


class JobResponse(BaseModel):
    job_id: str
    status: str


class JobStatusResponse(BaseModel):
    job_id: str
    status: str
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: float
    started_at: float | None = None
    completed_at: float | None = None


def create_app(db_path: str) -> FastAPI:
    app = FastAPI(title="ComfyUI Worker API (seed baseline)")
    manager = JobManager(db_path)

    @app.post("/run", response_model=JobResponse)
    async def run(request: JobRequest) -> JobResponse:
        images = [i.model_dump() for i in request.images] if request.images else None
        return JobResponse(job_id=manager.create_job(request.workflow, images), status="pending")

    @app.get("/status/{job_id}", response_model=JobStatusResponse)
    async def status(job_id: str) -> JobStatusResponse:
        job = manager.get_job(job_id)
        if job is None:
            raise HTTPException(status_code=404, detail="Job not found")
        fields = asdict(job)
        fields["job_id"] = fields.pop("id")
        return JobStatusResponse(**{k: v for k, v in fields.items() if k not in ("workflow", "images")})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--db", default="/tmp/seed_baseline.db")
    args = parser.parse_args()
    uvicorn.run(create_app(args.db), host=args.host, port=args.port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
