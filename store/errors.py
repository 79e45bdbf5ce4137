"""Errors of the job store."""


class StoreError(Exception):
    """The job store could not do what was asked."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class JobNotFound(StoreError):
    """No job has this id."""


class InvalidTransition(StoreError):
    """The job is not in a state this operation may leave."""


class StoreFull(StoreError):
    """The job store has no room left: its disk is full (or below MIN_FREE_DISK_MB), or it reached its size limit."""

    def __init__(self, message: str | None = None, *, free_bytes: int | None = None, path: str = "") -> None:
        super().__init__(message)
        self.free_bytes = free_bytes
        self.path = path
