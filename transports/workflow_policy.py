"""The workflow policy at submit: the operator's node lists and the file-name rule (store/policy.py), with the
newest node catalog an executor wrote into the store. A violation is a ``400`` naming the node and input."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from store import Store
from store.policy import NodeLists, PolicyViolation, WorkflowPolicy
from transports.errors import InvalidRequest


class PolicySource:
    """The policy to check a request against; re-reads the catalog only when its digest changed.

    Belongs to the thread that owns the store; the policy it returns is frozen, so it can be checked in a
    worker thread."""

    def __init__(self, store: Store, lists: NodeLists) -> None:
        self.store = store
        self.lists = lists
        self._digest: str | None = None
        self._policy = WorkflowPolicy(lists=lists)

    def current(self) -> WorkflowPolicy:
        digest = self.store.node_catalog_digest()
        if digest != self._digest:
            stored = self.store.node_catalog()
            if stored is not None:
                self._digest, catalog = stored
                self._policy = WorkflowPolicy(lists=self.lists, catalog=catalog)
        return self._policy


def check(policy: WorkflowPolicy, workflow: Mapping[str, Any], own_images: Iterable[str]) -> None:
    """Raise InvalidRequest (400) for a node the operator does not allow, or a file it may not read."""
    try:
        policy.check(workflow, own_images)
    except PolicyViolation as exc:
        raise InvalidRequest(exc.message, **exc.details) from None
