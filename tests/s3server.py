"""A real S3-compatible server on loopback (moto's server mode) for the tests that upload outputs."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3


def s3_client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="k",
                        aws_secret_access_key="s")


@contextmanager
def s3_server(bucket: str) -> Iterator[str]:
    """Start moto's server on a free port with `bucket` created; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        url = f"http://127.0.0.1:{port}"
        s3_client(url).create_bucket(Bucket=bucket)
        yield url
    finally:
        server.stop()
