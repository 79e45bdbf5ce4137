"""The apsw SQLite job store shared by every process of the daemon."""

from store.errors import InvalidTransition, JobNotFound, StoreError
from store.model import (
    TERMINAL,
    Component,
    InfoPage,
    InputImage,
    Job,
    JobInfo,
    JobStatus,
    OutputFile,
    OutputRef,
    Page,
    Progress,
    Recovered,
)
from store.store import Store

__all__ = [
    "TERMINAL", "Component", "InfoPage", "InputImage", "InvalidTransition", "Job", "JobInfo", "JobNotFound",
    "JobStatus", "OutputFile", "OutputRef", "Page", "Progress", "Recovered", "Store", "StoreError",
]
