"""Which network addresses a client may make the daemon connect to: webhook targets and input URLs.

A URL from a client is an attack until checked (server-side request forgery): it may name the host's own
services (loopback), the operator's network (private ranges), a cloud's metadata service (link-local
``169.254.169.254``, ``fd00:ec2::254``, Alibaba's ``100.100.100.200`` in the shared range), or hide one of
those behind a name that resolves to it, an IPv4 address written as IPv6 (``::ffff:127.0.0.1``, NAT64
``64:ff9b::a00:1``, 6to4) or a decimal integer. Only globally routable unicast addresses pass, unless the
operator allows private targets for that use.

Two checks, both needed: :func:`check_url` at submit (a clear ``400``, before anything is stored), and
:func:`resolve` right before connecting, whose checked addresses the caller connects to (never resolving the
name again), so a name that changed its answer in between (DNS rebinding) cannot slip through. A redirect is a
new URL: check it again. Pure: no SQL, no I/O but name resolution.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


class AddressRefused(ValueError):
    """A URL or an address this use may not reach; ``str()`` is a message for the client."""


@dataclass(frozen=True)
class AddressPolicy:
    """What one use (webhooks, input URLs) may reach.

    ``allow_private``: loopback, private and link-local targets pass too (tests, a trusted network).
    ``allowed_hosts``: when not empty, only these host names (``example.com``) or domains (``.example.com``,
    any name under it) pass, before any address check.
    """

    allow_private: bool = False
    allowed_hosts: frozenset[str] = frozenset()
    schemes: frozenset[str] = field(default=frozenset({"http", "https"}))


@dataclass(frozen=True)
class Target:
    """A checked URL's parts: where to connect, and what to say in ``Host`` and TLS's server name."""

    scheme: str
    host: str  # lower case, IPv6 without brackets
    port: int
    url: str


def check_url(url: object, policy: AddressPolicy) -> Target:
    """The URL's target if its form and (for a literal address) its address are allowed, else AddressRefused."""
    if not isinstance(url, str) or not url:
        raise AddressRefused("must be a URL string")
    if len(url) > MAX_URL_LENGTH:
        raise AddressRefused(f"is longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise AddressRefused("contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise AddressRefused(f"is not a valid URL ({e})") from None
    scheme = parts.scheme.lower()
    if scheme not in policy.schemes:
        raise AddressRefused(f"scheme must be one of {', '.join(sorted(policy.schemes))}")
    host = _host(parts)
    if parts.username is not None or parts.password is not None:
        raise AddressRefused("must not carry credentials (user:password@)")
    target = Target(scheme, host, port or (443 if scheme == "https" else 80), url)
    _check_host_allowed(host, policy)
    literal = _literal(host)
    if literal is not None:
        check_address(literal, policy)
    return target


def check_address(address: IPAddress | str, policy: AddressPolicy) -> None:
    """Refuse an address that is not globally routable unicast, unless the policy allows private ones."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if policy.allow_private:
        if ip.is_multicast or ip.is_unspecified:
            raise AddressRefused(f"address {ip} is not a unicast host")
        return
    for candidate in _embedded(ip):
        if not candidate.is_global or candidate.is_multicast:
            raise AddressRefused(f"address {ip} is loopback, private, link-local or reserved")


def resolve(target: Target, policy: AddressPolicy) -> list[IPAddress]:
    """The target's addresses, every one checked; connect only to these. Refused if any of them is refused."""
    literal = _literal(target.host)
    if literal is not None:
        check_address(literal, policy)
        return [literal]
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise AddressRefused(f"host {target.host!r} does not resolve ({e})") from None
    found: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        check_address(ip, policy)
        if ip not in found:
            found.append(ip)
    if not found:
        raise AddressRefused(f"host {target.host!r} has no address")
    return found


def _host(parts: SplitResult) -> str:
    host = parts.hostname
    if not host:
        raise AddressRefused("has no host")
    if len(host) > 253:
        raise AddressRefused("host name is too long")
    try:
        return host.encode("idna").decode("ascii").lower() if not host.isascii() else host.lower()
    except UnicodeError:
        raise AddressRefused("host name is not valid") from None


def _check_host_allowed(host: str, policy: AddressPolicy) -> None:
    if not policy.allowed_hosts:
        return
    name = host.rstrip(".")
    for allowed in policy.allowed_hosts:
        allowed = allowed.lower()
        if name == allowed.lstrip(".") or (allowed.startswith(".") and name.endswith(allowed)):
            return
    raise AddressRefused(f"host {host!r} is not on the operator's allow-list")


def _literal(host: str) -> IPAddress | None:
    """An address written as the host: dotted or bracketed forms, and the integer/octal/hex forms of IPv4
    that resolvers accept (``2130706433``, ``0x7f.1``, ``0177.0.0.1``) are addresses too."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefx." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _embedded(ip: IPAddress) -> list[IPAddress]:
    """The address and any IPv4 address it carries (mapped, NAT64, 6to4, Teredo), each checked alike."""
    found: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            found.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            found.append(ip.sixtofour)
        if ip.teredo is not None:
            found.extend(ip.teredo)
        if ip in _NAT64 or ip in _NAT64_LOCAL:
            found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found
