"""The apsw SQLite job store shared by every process of the daemon."""

from store.errors import InvalidTransition, JobNotFound, StoreError, StoreFull
from store.model import (
    TERMINAL,
    Component,
    InputImage,
    Job,
    JobStatus,
    Lease,
    OutputFile,
    Page,
    Progress,
    Recovered,
    StuckReset,
)
from store.store import Store

__all__ = [
    "TERMINAL", "Component", "InputImage", "InvalidTransition", "Job", "JobNotFound", "JobStatus", "Lease",
    "OutputFile", "Page", "Progress", "Recovered", "Store", "StoreError", "StoreFull", "StuckReset",
]
