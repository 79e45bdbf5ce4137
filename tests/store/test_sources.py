"""Inputs by reference: which entries are references, where they may point, and how errors show them."""

from __future__ import annotations

import pytest

from config.settings import Settings
from store.addresses import AddressRefused
from store.sources import InputSources, is_reference, shown
from tests.http.conftest import b64


@pytest.mark.parametrize(("text", "expected"), [
    ("https://a.example/x.png", True), ("HTTP://a.example/x.png", True), ("s3://b/k", True),
    ("ftp://a.example/x", True),  # a reference, of a scheme check() refuses: never decoded as base64
    (b64(), False), ("data:image/png;base64," + b64(), False), ("", False), ("http:/x", False),
])
def test_is_reference(text: str, expected: bool) -> None:
    assert is_reference(text) is expected


def test_buckets_default_to_bucket_name_only_when_s3_is_configured() -> None:
    assert InputSources.from_settings(Settings()).buckets == frozenset()
    configured = Settings(bucket_endpoint_url="http://127.0.0.1:9", bucket_name="outs")
    assert InputSources.from_settings(configured).buckets == {"outs"}
    listed = Settings(bucket_endpoint_url="http://127.0.0.1:9", bucket_name="outs", input_s3_buckets="a, b")
    assert InputSources.from_settings(listed).buckets == {"a", "b"}


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x.png", "http://[::1]/x.png", "http://2130706433/x.png", "http://0x7f.1/x.png",
    "http://169.254.169.254/latest/meta-data", "http://[::ffff:10.0.0.1]/x.png", "http://10.1.2.3/x.png",
    "gopher://a.example/x", "file:///etc/passwd", "http://u:p@a.example/x.png", "s3://outs/x.png",
])
def test_default_policy_refuses(url: str) -> None:
    with pytest.raises(AddressRefused):
        InputSources.from_settings(Settings()).check(url)


def test_private_addresses_pass_only_when_allowed() -> None:
    InputSources.from_settings(Settings(input_url_allow_private=True)).check("http://127.0.0.1:8/x.png")


def test_shown_drops_query_fragment_and_credentials() -> None:
    assert shown("https://u:p@a.example/x.png?X-Amz-Signature=s#f") == "https://a.example/x.png"
