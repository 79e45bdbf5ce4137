"""What the daemon's processes say of themselves through the store: each component's state (for /health) and
the node catalog an executor read from ComfyUI (for store/policy.py). A mixin of ``Store``."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import apsw
import msgspec

from store.model import Component
from store.policy import NodeCatalog
from store.room import writes

_encode = msgspec.json.Encoder().encode
_decode_catalog = msgspec.json.Decoder(dict[str, tuple[str, ...]]).decode


class Registry:
    """The attributes and ``_rows`` are ``Store``'s."""

    conn: apsw.Connection
    clock: Callable[[], float]
    q: dict[str, str]

    def _rows(self, name: str, **params: Any) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def committed(self, write: str) -> None:
        """See ``Room.committed``."""

    # --- components -------------------------------------------------------------------------------------------

    @writes
    def set_component(self, name: str, state: str, *, pid: int | None = None, restarts: int = 0,
                      detail: str | None = None) -> None:
        self.conn.execute(self.q["upsert_component"], {
            "name": name, "pid": pid, "state": state, "restarts": restarts, "detail": detail, "now": self.clock(),
        })

    def components(self) -> list[Component]:
        return [Component(*row) for row in self._rows("list_components")]

    @writes
    def clear_components(self) -> None:
        self.conn.execute(self.q["delete_components"])

    # --- the node catalog (store/policy.py) --------------------------------------------------------------------

    def put_node_catalog(self, catalog: NodeCatalog) -> bool:
        """Keep the catalog an executor read from ComfyUI; False when the stored one was the same."""
        text = _encode(dict(sorted(catalog.file_inputs.items())))
        digest = hashlib.sha256(text).hexdigest()
        self.conn.execute(self.q["put_node_catalog"], {"digest": digest, "catalog": text.decode(),
                                                       "now": self.clock()})
        return bool(self.conn.changes())

    def node_catalog_digest(self) -> str | None:
        """Changes whenever the catalog does: one indexed read, cheap enough for every submit."""
        rows = self._rows("get_node_catalog_digest")
        return str(rows[0][0]) if rows else None

    def node_catalog(self) -> tuple[str, NodeCatalog] | None:
        """(digest, catalog), or None before any executor has read ComfyUI's /object_info."""
        rows = self._rows("get_node_catalog")
        if not rows:
            return None
        digest, text = rows[0]
        return str(digest), NodeCatalog(file_inputs=_decode_catalog(text))
