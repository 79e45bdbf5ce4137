"""The address policy for URLs a client gives (webhooks, input URLs): every form of a refused target."""

from __future__ import annotations

import ipaddress

import pytest

from store.addresses import AddressPolicy, AddressRefused, check_address, check_url, resolve

STRICT = AddressPolicy()
OPEN = AddressPolicy(allow_private=True)

REFUSED_URLS = [
    "http://127.0.0.1/hook",
    "http://127.1/hook",  # short IPv4 form
    "http://2130706433/hook",  # 127.0.0.1 as an integer
    "http://0x7f000001/hook",
    "http://0177.0.0.1/hook",  # octal
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped
    "http://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
    "http://[2002:a00:1::]/hook",  # 6to4 of 10.0.0.1
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fd00:ec2::254]/",  # AWS metadata over IPv6
    "http://100.100.100.200/",  # Alibaba metadata, shared address space
    "http://0.0.0.0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://[fe80::1]/",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_private_loopback_link_local_and_metadata_literals_are_refused(url: str) -> None:
    with pytest.raises(AddressRefused, match="address"):
        check_url(url, STRICT)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/x", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://example.com/", "scheme"),
        ("https://user:pw@example.com/", "credentials"),
        ("https:///path", "no host"),
        ("https://exa mple.com/", "spaces"),
        ("https://example.com/\r\nX-Injected: 1", "control"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://" + "a" * 3000 + ".com/", "longer than"),
        (12, "URL string"),
        ("", "URL string"),
    ],
)
def test_malformed_urls_are_refused_with_the_reason(url: object, why: str) -> None:
    with pytest.raises(AddressRefused, match=why):
        check_url(url, STRICT)


def test_a_public_url_passes_with_its_port_and_lower_case_host() -> None:
    target = check_url("https://Hooks.Example.COM/path?q=1", STRICT)
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example.com", 443)
    assert check_url("http://93.184.215.14:8080/x", STRICT).port == 8080


def test_allow_private_lets_loopback_through_but_never_unspecified_or_multicast() -> None:
    assert check_url("http://127.0.0.1:9/x", OPEN).host == "127.0.0.1"
    for url in ("http://0.0.0.0/", "http://224.0.0.1/"):
        with pytest.raises(AddressRefused, match="unicast"):
            check_url(url, OPEN)


def test_the_host_allow_list_names_hosts_and_domains() -> None:
    policy = AddressPolicy(allowed_hosts=frozenset({"cdn.example.com", ".images.example.org"}))
    assert check_url("https://cdn.example.com/a.png", policy).host == "cdn.example.com"
    assert check_url("https://x.images.example.org/a.png", policy).host == "x.images.example.org"
    for url in ("https://example.com/", "https://evilcdn.example.com/", "https://images.example.org.evil.com/"):
        with pytest.raises(AddressRefused, match="allow-list"):
            check_url(url, policy)


def test_resolve_refuses_a_name_that_resolves_to_loopback() -> None:
    # "localhost" resolves to loopback without any network: a name cannot smuggle a refused address in
    with pytest.raises(AddressRefused, match="address"):
        resolve(check_url("http://localhost:80/x", STRICT), STRICT)
    assert all(ip.is_loopback for ip in resolve(check_url("http://localhost:80/x", OPEN), OPEN))


def test_resolve_of_a_literal_returns_it_checked() -> None:
    assert resolve(check_url("http://127.0.0.1:5/x", OPEN), OPEN) == [ipaddress.ip_address("127.0.0.1")]
    with pytest.raises(AddressRefused):
        resolve(check_url("http://127.0.0.1:5/x", OPEN), STRICT)


def test_an_unresolvable_name_is_refused() -> None:
    with pytest.raises(AddressRefused, match="resolve"):
        resolve(check_url("http://no-such-host.invalid/x", STRICT), STRICT)


def test_check_address_sees_through_every_embedding() -> None:
    for address in ("::ffff:10.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "::ffff:169.254.169.254"):
        with pytest.raises(AddressRefused):
            check_address(address, STRICT)
    check_address("8.8.8.8", STRICT)
    check_address("2606:4700:4700::1111", STRICT)
