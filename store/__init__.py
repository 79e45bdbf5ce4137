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
    Progress,
    Recovered,
    StuckReset,
)
from store.store import Store
from store.warmups import Warmup, WarmupState

__all__ = [
    "TERMINAL", "Component", "InfoPage", "InputImage", "InvalidTransition", "Job", "JobInfo", "JobNotFound",
    "JobStatus", "Lease", "OutputFile", "OutputRef", "Page", "Progress", "Recovered", "Store", "StoreError",
    "StoreFull", "StuckReset", "Warmup", "WarmupState",
]
