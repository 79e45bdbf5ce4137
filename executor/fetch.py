"""Fetching one input a client gave by URL: only to the addresses the policy checked, within a size and a time.

Each hop (the URL, then every redirect) is checked by ``store/addresses.py``: ``check_url`` for its form and
host, ``resolve`` for its addresses, and the connection goes to one of those addresses only (the name is
never resolved again, so a DNS answer that changes in between cannot move it); ``Host`` and TLS's server name
come from the URL. At most ``max_redirects`` redirects. A body past ``max_bytes`` (by ``Content-Length`` or as it
arrives) stops the fetch. Framed by h11, like the executor's client of ComfyUI (``executor/http11.py``).

:class:`FetchRefused` is final (refused address, ``404``, too large): the same on every retry.
:class:`FetchFailed` may pass (timeout, refused connection, ``5xx``, ``408``, ``429``): retried.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

import h11

from store.addresses import AddressPolicy, AddressRefused, IPAddress, Target, check_url, resolve
from store.sources import shown

READ_SIZE = 256 * 1024
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SAFE = "/%:@!$&'()*+,;=-._~?"  # kept as they are in a request target; anything else is percent-encoded

Resolver = Callable[[Target, AddressPolicy], list[IPAddress]]


class FetchRefused(Exception):
    """The input cannot be fetched, and would not be on a retry; ``str()`` is the reason."""


class FetchFailed(Exception):
    """The input could not be fetched this time (timeout, connection, a server error)."""


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int
    timeout_s: float
    max_redirects: int = 3


@dataclass(frozen=True)
class _Answer:
    status: int
    location: str | None
    body: bytes


async def fetch_url(url: str, policy: AddressPolicy, limits: FetchLimits, *,
                    resolver: Resolver = resolve) -> bytes:
    """The body of a ``200`` answer to ``GET url``, following at most ``limits.max_redirects`` redirects."""
    try:
        async with asyncio.timeout(limits.timeout_s):
            return await _follow(url, policy, limits, resolver)
    except TimeoutError:
        raise FetchFailed(f"no whole answer within {limits.timeout_s:g} s (INPUT_URL_TIMEOUT_S)") from None


async def _follow(url: str, policy: AddressPolicy, limits: FetchLimits, resolver: Resolver) -> bytes:
    for hop in range(limits.max_redirects + 1):
        where = "" if hop == 0 else f"redirect {hop} to {shown(url)!r} "  # no query: it may hold a signature
        try:
            target = check_url(url, policy)
            addresses = await asyncio.to_thread(resolver, target, policy)
        except AddressRefused as exc:
            raise FetchRefused(f"{where}refused: {exc}") from None
        answer = await _get(target, addresses, limits.max_bytes)
        if answer.status in REDIRECTS:
            if not answer.location:
                raise FetchRefused(f"{where}HTTP {answer.status} without a Location")
            url = urllib.parse.urljoin(url, answer.location)
            continue
        if answer.status == 200:
            return answer.body
        if answer.status >= 500 or answer.status in (408, 429):
            raise FetchFailed(f"{where}HTTP {answer.status}")
        raise FetchRefused(f"{where}HTTP {answer.status}")
    raise FetchRefused(f"more than {limits.max_redirects} redirects")


def _request(target: Target) -> h11.Request:
    parts = urllib.parse.urlsplit(target.url)
    path = urllib.parse.quote(parts.path or "/", safe=_SAFE)
    if parts.query:
        path += "?" + urllib.parse.quote(parts.query, safe=_SAFE)
    host = f"[{target.host}]" if ":" in target.host else target.host
    if target.port != (443 if target.scheme == "https" else 80):
        host += f":{target.port}"
    headers = [("Host", host), ("User-Agent", "comfyui-worker"), ("Accept", "*/*"),
               ("Accept-Encoding", "identity"), ("Connection", "close")]
    return h11.Request(method="GET", target=path, headers=headers)


async def _connect(target: Target,
                   addresses: list[IPAddress]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the first of the checked addresses that answers; TLS names the URL's host."""
    tls = ssl.create_default_context() if target.scheme == "https" else None
    failures = []
    for address in addresses:
        try:
            return await asyncio.open_connection(str(address), target.port, ssl=tls, limit=READ_SIZE,
                                                 server_hostname=target.host if tls else None)
        except OSError as exc:  # ssl.SSLError included: a certificate that does not match is not retried here
            if isinstance(exc, ssl.SSLCertVerificationError):
                raise FetchRefused(f"TLS: {exc.verify_message}") from None
            failures.append(f"{address}: {exc.strerror or exc}")
    raise FetchFailed(f"cannot connect ({'; '.join(failures)[:300]})")


async def _get(target: Target, addresses: list[IPAddress], max_bytes: int) -> _Answer:
    reader, writer = await _connect(target, addresses)
    try:
        return await _exchange(reader, writer, _request(target), max_bytes)
    except (OSError, h11.ProtocolError) as exc:
        raise FetchFailed(f"{type(exc).__name__}: {exc}") from None
    finally:
        writer.close()


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: h11.Request,
                    max_bytes: int) -> _Answer:
    conn = h11.Connection(h11.CLIENT)
    writer.write((conn.send(request) or b"") + (conn.send(h11.EndOfMessage()) or b""))
    response: h11.Response | None = None
    chunks: list[bytes] = []
    received = 0
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(READ_SIZE))
        elif isinstance(event, h11.Response):
            response = event
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
            if event.status_code != 200:  # a redirect or an error: its body is not wanted
                return _Answer(event.status_code, headers.get("location"), b"")
            _check_length(headers.get("content-length"), max_bytes)
        elif isinstance(event, h11.Data):
            received += len(event.data)
            if received > max_bytes:
                raise FetchRefused(f"too large: more than {max_bytes:,} bytes (INPUT_URL_MAX_MB)")
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            assert response is not None
            return _Answer(response.status_code, None, b"".join(chunks))
        elif isinstance(event, h11.ConnectionClosed):
            raise FetchFailed("the server closed the connection before a whole answer")


def _check_length(value: str | None, max_bytes: int) -> None:
    if value is not None and value.isdigit() and int(value) > max_bytes:
        raise FetchRefused(f"too large: {int(value):,} bytes, at most {max_bytes:,} (INPUT_URL_MAX_MB)")
