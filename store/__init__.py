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
from store.outbox import (
    DEFAULT_EVENTS,
    EVENTS,
    Attempt,
    Delivery,
    DeliveryInfo,
    DeliveryState,
    WebhookFigures,
    WebhookSpec,
)
from store.store import Store

__all__ = [
    "DEFAULT_EVENTS", "EVENTS", "TERMINAL", "Attempt", "Delivery", "DeliveryInfo", "DeliveryState", "WebhookFigures",
    "WebhookSpec", "Component", "InfoPage", "InputImage", "InvalidTransition", "Job", "JobInfo", "JobNotFound",
    "JobStatus", "Lease", "OutputFile", "OutputRef", "Page", "Progress", "Recovered", "Store", "StoreError",
    "StoreFull", "StuckReset",
]
