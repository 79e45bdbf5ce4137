"""A job's inputs given by reference (``store/sources.py``): fetched once, checked like uploaded ones, kept.

Each URL or ``s3://`` entry not yet among the job's ``job_inputs`` rows is checked against the sources again
(the settings may have changed since submit), fetched (``executor/fetch.py``, ``executor/s3input.py``; all of
a job's together within INPUT_URL_MAX_MB), checked by ``store/media.py`` exactly like an inline input, and
stored as a row of the job: a retry of the job never fetches it again. Errors name the entry (``images[2]``)
and the reason; a URL is shown without its query.
"""

from __future__ import annotations

import asyncio
import dataclasses

from config.logging import get_logger
from config.settings import Settings
from executor.errors import InputUnavailable, InvalidInput
from executor.fetch import FetchFailed, FetchLimits, FetchRefused, Resolver, fetch_url
from executor.s3input import S3Reader
from store import InputImage, Job, Store
from store.addresses import AddressRefused, resolve
from store.media import MB, MediaLimits, MediaRefused
from store.sources import InputRef, InputSources, shown


class Fetcher:
    """What every job of one executor shares to fetch its inputs."""

    def __init__(self, settings: Settings, *, resolver: Resolver = resolve) -> None:
        self.settings = settings
        self.sources = InputSources.from_settings(settings)
        self.limits = FetchLimits(max_bytes=int(settings.input_url_max_mb * MB),
                                  timeout_s=settings.input_url_timeout_s)
        self.media = MediaLimits.from_settings(settings)
        self.resolver = resolver
        self._s3: S3Reader | None = None

    async def fetch(self, ref: InputRef, budget: int) -> InputImage:
        """The entry's bytes (at most ``budget``), checked; InvalidInput (final) or InputUnavailable (retried)
        naming the entry."""
        where = f"{ref.entry} ({ref.name!r}) from {shown(ref.url)}"
        try:
            self.sources.check(ref.url)
            data = await self._get(ref.url, budget)
            self.media.check(ref.name, data)
        except (AddressRefused, FetchRefused) as exc:
            raise InvalidInput(f"{where}: {exc}", entry=ref.entry, image=ref.name, reason=str(exc)) from None
        except MediaRefused as exc:
            raise InvalidInput(f"{where}: {exc.message}", entry=ref.entry, reason=exc.message,
                               **exc.details) from None
        except FetchFailed as exc:
            raise InputUnavailable(f"{where}: {exc}", entry=ref.entry, image=ref.name, reason=str(exc)) from None
        get_logger().debug("input_fetched", entry=ref.entry, bytes=len(data))
        return InputImage(name=ref.name, data=data)

    async def _get(self, url: str, budget: int) -> bytes:
        """A transient failure is tried again INPUT_URL_RETRIES times, backing off, before the job is requeued
        (a requeue spends an attempt at once: a server answering 503 for a second would use them all up)."""
        delay = self.settings.input_url_retry_delay_s
        for retries_left in range(self.settings.input_url_retries, -1, -1):
            try:
                return await self._get_once(url, budget)
            except FetchFailed as exc:
                if not retries_left:
                    raise
                get_logger().info("input_fetch_retry", url=shown(url), error=str(exc), in_s=delay)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    async def _get_once(self, url: str, budget: int) -> bytes:
        if not url.startswith("s3://"):
            limits = dataclasses.replace(self.limits, max_bytes=budget)
            return await fetch_url(url, self.sources.addresses, limits, resolver=self.resolver)
        bucket, key = self.sources.s3_location(url)
        if self._s3 is None:
            self._s3 = S3Reader(self.settings)
        read = asyncio.to_thread(self._s3.get, bucket, key, budget)
        try:
            return await asyncio.wait_for(read, self.limits.timeout_s)
        except TimeoutError:
            raise FetchFailed(f"no whole answer within {self.limits.timeout_s:g} s (INPUT_URL_TIMEOUT_S)") from None


async def fetch_missing(fetcher: Fetcher, store: Store, job: Job, worker_id: str,
                        have: list[InputImage]) -> list[InputImage]:
    """The job's inputs: those it has, and each reference fetched and stored if it is not among them yet.
    All of a job's fetched inputs together hold at most INPUT_URL_MAX_MB (the executor holds them at once)."""
    refs = job.references
    names = {image.name for image in have}
    inline = len(names - {ref.name for ref in refs})  # rows 0..inline-1 came with the request
    images = list(have)
    by_ref = {ref.name for ref in refs}
    fetched = sum(len(image.data) for image in have if image.name in by_ref)
    for position, ref in enumerate(refs):
        if ref.name in names:
            continue  # fetched by an earlier attempt
        image = await fetcher.fetch(ref, max(fetcher.limits.max_bytes - fetched, 0))
        fetched += len(image.data)
        store.add_fetched_input(job.id, worker_id, inline + position, ref.name, image.data)
        images.append(image)
    return images
