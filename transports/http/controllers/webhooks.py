"""A job's webhooks: the deliveries and their attempts, and a redelivery of the last event."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from transports.http.clients import Caller
from transports.http.controllers.responses import errors
from transports.service import JobService
from transports.webhook_history import DeliveryBody, WebhooksBody, history, redeliver

Service = NamedDependency[JobService]
Who = NamedDependency[Caller]


class WebhooksController(Controller):
    tags = ["webhooks"]

    @get("/jobs/{job_id:str}/webhooks", sync_to_thread=False, responses=errors(401, 403, 404))
    def webhooks(self, job_id: FromPath[str], service: Service, caller: Who) -> WebhooksBody:
        """Every delivery of the job's events, oldest first, each with its attempts (time, status code or
        error, next try)."""
        service.store.check_owner(job_id, caller.owner)
        return history(service.store, job_id)

    @post("/jobs/{job_id:str}/webhooks/redeliver", status_code=202, sync_to_thread=False,
          responses=errors(401, 403, 404, 409, 415))
    def redeliver(self, job_id: FromPath[str], service: Service, caller: Who) -> DeliveryBody:
        """Send the job's last event again, with the same ``webhook-id`` (a receiver that already has it may
        drop it); 409 when the job has no event yet."""
        service.store.check_owner(job_id, caller.owner)
        return redeliver(service.store, job_id)
