"""Jobs that belong to clients: a job's owner (the name of the API key that created it), each client's counts,
and the audit table of what admins did. A mixin of ``Store``; its SQL is ``sql/clients.sql``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apsw
import msgspec

from store.errors import JobNotFound
from store.model import InfoPage, JobInfo
from store.room import writes

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_FAR_FUTURE = 1e18
DEFAULT_OWNER = "default"  # API_KEY's client, the open API's, and every job made before clients had names


class AuditEntry(msgspec.Struct, frozen=True):
    id: int
    at: float
    actor: str
    action: str
    target: str | None
    result: str
    detail: dict[str, Any] | None


class Clients:
    """The attributes and helpers are ``Store``'s."""

    conn: apsw.Connection
    clock: Callable[[], float]
    cq: dict[str, str]  # sql/clients.sql

    def _cq(self, name: str, **params: Any) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(self.cq[name], params))

    def committed(self, write: str) -> None:
        """See ``Room.committed``."""

    def owner_of(self, job_id: str) -> str:
        """The client that created the job. Raises JobNotFound."""
        rows = self._cq("owner_of", id=job_id)
        if not rows:
            raise JobNotFound(f"no job {job_id}")
        return str(rows[0][0])

    def check_owner(self, job_id: str, owner: str | None) -> None:
        """JobNotFound, exactly as for an unknown id, unless ``owner`` is None (sees every job) or the job's."""
        if owner is not None and self.owner_of(job_id) != owner:
            raise JobNotFound(f"no job {job_id}")

    def pending_of(self, owner: str) -> int:
        return int(self._cq("pending_of", owner=owner)[0][0])

    def counts_by_owner(self) -> dict[str, dict[str, int]]:
        """{client: {status: jobs}} for every client that has jobs."""
        found: dict[str, dict[str, int]] = {}
        for owner, status, n in self._cq("counts_by_owner"):
            found.setdefault(owner, {})[status] = n
        return found

    def list_job_infos_of(self, owner: str, status: str | None, limit: int, before: tuple[float, str] | None,
                          info: Callable[[tuple[Any, ...]], JobInfo],
                          cursor: Callable[[JobInfo], str]) -> InfoPage:
        before_created, before_id = before or (_FAR_FUTURE, "")
        params = {"owner": owner, "before_created": before_created, "before_id": before_id, "limit": limit + 1}
        if status is None:
            rows = self._cq("list_job_infos_of", **params)
        else:
            rows = self._cq("list_job_infos_of_by_status", status=status, **params)
        jobs = [info(row) for row in rows[:limit]]
        return InfoPage(jobs=jobs, next_cursor=cursor(jobs[-1]) if len(rows) > limit else None)

    # --- audit --------------------------------------------------------------------------------------------------

    @writes
    def audit(self, actor: str, action: str, *, target: str | None = None, result: str = "ok",
              detail: dict[str, Any] | None = None) -> None:
        self.conn.execute(self.cq["insert_audit"], {
            "at": self.clock(), "actor": actor, "action": action, "target": target, "result": result,
            "detail": None if detail is None else _encode(detail).decode()})

    def audit_entries(self, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        rows = self._cq("list_audit", before=before if before is not None else 2**62, limit=limit)
        return [AuditEntry(id, at, actor, action, target, result, _decode(detail) if detail else None)
                for id, at, actor, action, target, result, detail in rows]

