"""The apsw SQLite job store shared by every process of the daemon."""

from store.errors import InvalidTransition, JobNotFound, StoreError, StoreFull
from store.model import (
    TERMINAL,
    Component,
    InfoPage,
    InputImage,
    Job,
    JobInfo,
    JobStatus,
    Lease,
    OutputFile,
    OutputRef,
    Page,
    Place,
    Progress,
    Recovered,
    RemoteRef,
    StuckReset,
)
from store.store import Store

__all__ = [
    "TERMINAL", "Component", "InfoPage", "InputImage", "InvalidTransition", "Job", "JobInfo", "JobNotFound",
    "JobStatus", "Lease", "OutputFile", "OutputRef", "Page", "Place", "Progress", "Recovered", "RemoteRef", "Store",
    "StoreError", "StoreFull", "StuckReset",
]
