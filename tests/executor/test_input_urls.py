"""Inputs by URL (issue 14 item 1): the real executor fetches them from a real HTTP server on loopback, checks
them like uploaded ones, keeps them (a retry never fetches twice), and ends the job ``invalid_input`` naming the
entry for what a retry cannot fix (404, too large, not an image, a refused address), retrying what may pass
(timeout, 5xx). Loopback is refused by default: these tests allow private addresses except where refusal is
what they test."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import pytest

from executor.fetch import FetchLimits, fetch_url
from store import InputImage, JobStatus, Store
from store.addresses import AddressPolicy, IPAddress, Target
from store.sources import InputRef
from tests.executor.conftest import load_workflow, png, wait_status
from tests.fake_comfyui.harness import FakeComfyUI
from tests.fake_comfyui.images import decode_png
from tests.input_server import InputServer, Reply, input_server

PRIVATE = {"input_url_allow_private": True}


@pytest.fixture
def server() -> Iterator[InputServer]:
    with input_server() as s:
        yield s


def url_job(store: Store, *urls: tuple[str, str], max_attempts: int = 3,
            images: list[InputImage] | None = None) -> Any:
    """A job loading the first named input, with the others given by reference after any inline ones."""
    inline = images or []
    refs = [InputRef(index=len(inline) + i, name=name, url=url) for i, (name, url) in enumerate(urls)]
    return store.create_job(load_workflow(urls[0][0]), images=inline, references=refs, max_attempts=max_attempts)


def inverted_first_pixel(store: Store, job_id: str) -> bytes:
    frame, _ = decode_png(store.get_outputs(job_id)[0].data)
    return frame.data[:3]


async def test_url_input_is_fetched_once_checked_and_loaded(store: Store, fake_comfyui: FakeComfyUI,
                                                            server: InputServer, executor_factory) -> None:
    url = server.route("/in.png", Reply(200, png(0x102030)))
    job = url_job(store, ("in.png", url))
    async with executor_factory(fake_comfyui, **PRIVATE):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    assert inverted_first_pixel(store, job.id) == bytes((0xFF - 0x10, 0xFF - 0x20, 0xFF - 0x30))
    assert store.get_inputs(job.id) == [InputImage("in.png", png(0x102030))]  # kept with the job
    assert server.hits("/in.png") == 1


async def test_a_5xx_is_retried_and_what_was_fetched_is_not_fetched_again(
        store: Store, fake_comfyui: FakeComfyUI, server: InputServer, executor_factory) -> None:
    first = server.route("/a.png", Reply(200, png(0x000000)))
    flaky = server.route("/b.png", Reply(503, b"busy"), Reply(200, png(0xFFFFFF)))
    job = url_job(store, ("a.png", first), ("b.png", flaky))
    async with executor_factory(fake_comfyui, **PRIVATE, input_url_retries=0):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    assert done.attempts == 2
    assert (server.hits("/a.png"), server.hits("/b.png")) == (1, 2)
    assert [i.name for i in store.get_inputs(job.id)] == ["a.png", "b.png"]


async def test_a_5xx_is_tried_again_within_the_claim_before_the_job_spends_an_attempt(
        store: Store, fake_comfyui: FakeComfyUI, server: InputServer, executor_factory) -> None:
    flaky = server.route("/c.png", Reply(503, b"busy"), Reply(502, b"bad gateway"), Reply(200, png(0x808080)))
    job = url_job(store, ("c.png", flaky), max_attempts=1)
    async with executor_factory(fake_comfyui, **PRIVATE, input_url_retries=2, input_url_retry_delay_s=0.05):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    assert (done.attempts, server.hits("/c.png")) == (1, 3)


async def test_a_fetch_that_keeps_failing_ends_its_tries_then_the_job_is_requeued(
        store: Store, fake_comfyui: FakeComfyUI, server: InputServer, executor_factory) -> None:
    down = server.route("/d.png", *[Reply(503, b"busy")] * 6)
    job = url_job(store, ("d.png", down), max_attempts=2)
    async with executor_factory(fake_comfyui, **PRIVATE, input_url_retries=1, input_url_retry_delay_s=0.01):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.FAILED and done.error is not None
    assert done.error["type"] == "input_unavailable" and "503" in done.error["message"]
    assert (done.attempts, server.hits("/d.png")) == (2, 4)  # 2 tries in each of 2 claims


async def test_inline_and_fetched_inputs_together(store: Store, fake_comfyui: FakeComfyUI, server: InputServer,
                                                  executor_factory) -> None:
    url = server.route("/far.png", Reply(200, png(0x445566)))
    job = url_job(store, ("far.png", url), images=[InputImage("near.png", png(1))])
    async with executor_factory(fake_comfyui, **PRIVATE):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    assert [i.name for i in store.get_inputs(job.id)] == ["near.png", "far.png"]


async def failed(store: Store, fake: FakeComfyUI, job_id: str, executor_factory: Any, **settings: Any) -> Any:
    async with executor_factory(fake, **{**PRIVATE, **settings}):
        done = await wait_status(store, job_id)
    assert done.status is JobStatus.FAILED, done
    assert fake.stats()["uploads"] == 0 and fake.stats()["received"] == 0  # ComfyUI never saw it
    return done.error


async def test_404_ends_the_job_invalid_input_naming_the_entry(store: Store, fake_comfyui: FakeComfyUI,
                                                               server: InputServer, executor_factory) -> None:
    inline = [InputImage("ok.png", png(1))]
    job = url_job(store, ("gone.png", server.url("/gone.png?X-Amz-Signature=secret")), images=inline)
    error = await failed(store, fake_comfyui, job.id, executor_factory)
    assert error["type"] == "invalid_input" and error["entry"] == "images[1]" and error["reason"] == "HTTP 404"
    assert "images[1] ('gone.png')" in error["message"] and "secret" not in error["message"]
    assert store.get_job(job.id).attempts == 1


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_oversized_file_is_refused_while_it_arrives(chunked: bool, store: Store,
                                                             fake_comfyui: FakeComfyUI, server: InputServer,
                                                             executor_factory) -> None:
    url = server.route("/big.png", Reply(200, png(1) + b"\x00" * 300_000, chunked=chunked))
    job = url_job(store, ("big.png", url))
    error = await failed(store, fake_comfyui, job.id, executor_factory, input_url_max_mb=0.1)
    assert error["type"] == "invalid_input" and error["reason"].startswith("too large")
    assert store.get_inputs(job.id) == []


async def test_bytes_that_are_no_image_are_refused_like_an_upload(store: Store, fake_comfyui: FakeComfyUI,
                                                                  server: InputServer, executor_factory) -> None:
    url = server.route("/page.png", Reply(200, b"<html>login</html>", {"Content-Type": "image/png"}))
    job = url_job(store, ("page.png", url))
    error = await failed(store, fake_comfyui, job.id, executor_factory)
    assert error["type"] == "invalid_input" and error["entry"] == "images[0]" and "is not a PNG" in error["reason"]


async def test_a_fetched_image_over_max_image_pixels_is_refused(store: Store, fake_comfyui: FakeComfyUI,
                                                               server: InputServer, executor_factory) -> None:
    url = server.route("/huge.png", Reply(200, png(0x010101, size=64)))
    job = url_job(store, ("huge.png", url))
    error = await failed(store, fake_comfyui, job.id, executor_factory, max_image_pixels=1000)
    assert error["type"] == "invalid_input" and "MAX_IMAGE_PIXELS" in error["reason"]


async def test_a_slow_server_is_a_transient_failure(store: Store, fake_comfyui: FakeComfyUI, server: InputServer,
                                                    executor_factory) -> None:
    url = server.route("/slow.png", Reply(200, png(1), delay_s=5))
    job = url_job(store, ("slow.png", url), max_attempts=2)
    error = await failed(store, fake_comfyui, job.id, executor_factory, input_url_timeout_s=0.3,
                         input_url_retries=0)
    assert error["type"] == "input_unavailable" and "INPUT_URL_TIMEOUT_S" in error["reason"]
    assert store.get_job(job.id).attempts == 2 and server.hits("/slow.png") == 2


async def test_a_redirect_is_followed_and_checked(store: Store, fake_comfyui: FakeComfyUI, server: InputServer,
                                                  executor_factory) -> None:
    server.route("/real.png", Reply(200, png(0x203040)))
    url = server.route("/moved", Reply(302, headers={"Location": "/real.png"}))
    job = url_job(store, ("in.png", url))
    async with executor_factory(fake_comfyui, **PRIVATE):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.COMPLETED, done.error


@pytest.mark.parametrize("location", ["http://0.0.0.0:{port}/real.png", "http://[::]:{port}/real.png",
                                      "file:///etc/passwd", "http://localhost:{port}/real.png"])
async def test_a_redirect_to_a_refused_address_is_never_followed(location: str, store: Store,
                                                                 fake_comfyui: FakeComfyUI, server: InputServer,
                                                                 executor_factory) -> None:
    """0.0.0.0 and [::] reach the host itself; localhost is not on the allow-list; file: is no URL we fetch."""
    server.route("/real.png", Reply(200, png(1)))
    target = location.format(port=server.port) + "?X-Amz-Signature=secret"
    url = server.route("/moved", Reply(302, headers={"Location": target}))
    job = url_job(store, ("in.png", url))
    error = await failed(store, fake_comfyui, job.id, executor_factory,
                         input_url_allowed_hosts="127.0.0.1,0.0.0.0,::")  # only localhost is off the list
    assert error["type"] == "invalid_input" and error["reason"].startswith("redirect 1 to ")
    assert "refused" in error["reason"] and server.hits("/real.png") == 0
    assert "secret" not in error["message"]


async def test_at_most_three_redirects(store: Store, fake_comfyui: FakeComfyUI, server: InputServer,
                                       executor_factory) -> None:
    url = server.route("/loop", Reply(302, headers={"Location": "/loop"}))
    job = url_job(store, ("in.png", url))
    error = await failed(store, fake_comfyui, job.id, executor_factory)
    assert error["reason"] == "more than 3 redirects" and server.hits("/loop") == 4


async def test_loopback_is_refused_by_default_even_behind_a_name(store: Store, fake_comfyui: FakeComfyUI,
                                                                 server: InputServer, executor_factory) -> None:
    """``localhost`` passes the submit check (a name); its addresses are checked before connecting."""
    server.route("/in.png", Reply(200, png(1)))
    job = url_job(store, ("in.png", server.url("/in.png", host="localhost")))
    error = await failed(store, fake_comfyui, job.id, executor_factory, input_url_allow_private=False)
    assert error["type"] == "invalid_input" and "loopback" in error["reason"]
    assert server.requests == []


async def test_a_host_off_the_allow_list_is_refused(store: Store, fake_comfyui: FakeComfyUI, server: InputServer,
                                                    executor_factory) -> None:
    server.route("/in.png", Reply(200, png(1)))
    job = url_job(store, ("in.png", server.url("/in.png")))
    error = await failed(store, fake_comfyui, job.id, executor_factory, input_url_allowed_hosts=".example.com")
    assert "allow-list" in error["reason"] and server.requests == []


async def test_connects_only_to_the_resolved_address_naming_the_urls_host(server: InputServer) -> None:
    """The name is resolved once per hop, by the policy's resolver; the connection goes to what it returned
    (never resolving again: no DNS rebinding in between) and says the URL's host in ``Host``."""
    asked: list[str] = []

    def resolver(target: Target, policy: AddressPolicy) -> list[IPAddress]:
        asked.append(target.host)
        return [ipaddress.ip_address("127.0.0.1")]

    server.route("/in.png", Reply(302, headers={"Location": f"http://cdn.test.invalid:{server.port}/real.png"}))
    server.route("/real.png", Reply(200, png(7)))
    data = await fetch_url(f"http://images.test.invalid:{server.port}/in.png", AddressPolicy(allow_private=True),
                           FetchLimits(max_bytes=1 << 20, timeout_s=5), resolver=resolver)
    assert data == png(7) and asked == ["images.test.invalid", "cdn.test.invalid"]
    assert server.requests == [("/in.png", f"images.test.invalid:{server.port}"),
                               ("/real.png", f"cdn.test.invalid:{server.port}")]


async def test_input_url_max_mb_bounds_all_of_a_jobs_fetched_inputs(store: Store, fake_comfyui: FakeComfyUI,
                                                                    server: InputServer, executor_factory) -> None:
    """Each file alone is under the limit; together they are not (the executor holds them all at once)."""
    body = png(1) + b"\x00" * 60_000
    urls = [(f"{n}.png", server.route(f"/{n}.png", Reply(200, body))) for n in ("a", "b")]
    job = url_job(store, *urls)
    error = await failed(store, fake_comfyui, job.id, executor_factory, input_url_max_mb=0.1)
    assert error["entry"] == "images[1]" and error["reason"].startswith("too large")
    assert [i.name for i in store.get_inputs(job.id)] == ["a.png"]
