"""Errors of the job store."""


class StoreError(Exception):
    """The job store could not do what was asked."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class JobNotFound(StoreError):
    """No job has this id."""


class InvalidTransition(StoreError):
    """The job is not in a state this operation may leave."""
