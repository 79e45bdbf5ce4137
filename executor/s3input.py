"""Reading one input a client gave as ``s3://bucket/key``, with the daemon's bucket credentials (BUCKET_*).

Only buckets on INPUT_S3_BUCKETS get here (``store/sources.py``). boto3 is imported on the first such input,
so an executor without one never loads it. Blocking: run :meth:`S3Reader.get` in a thread.
"""

from __future__ import annotations

from typing import Any

from config.settings import Settings
from executor.fetch import FetchFailed, FetchRefused

_TRANSIENT_CODES = frozenset({"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling"})


class S3Reader:
    def __init__(self, settings: Settings) -> None:
        import boto3
        from botocore.config import Config

        timeout = settings.input_url_timeout_s
        self.client: Any = boto3.client(
            "s3", endpoint_url=settings.bucket_endpoint_url, region_name=settings.bucket_region,
            aws_access_key_id=settings.bucket_access_key_id,
            aws_secret_access_key=settings.bucket_secret_access_key,
            config=Config(signature_version="s3v4", connect_timeout=timeout, read_timeout=timeout,
                          retries={"max_attempts": 1, "mode": "standard"}))

    def get(self, bucket: str, key: str, max_bytes: int) -> bytes:
        """The object's bytes; FetchRefused when missing, forbidden or too large, FetchFailed when S3 failed."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            obj = self.client.get_object(Bucket=bucket, Key=key)
            size = int(obj.get("ContentLength") or 0)
            body = obj["Body"]
            try:
                if size > max_bytes:
                    raise FetchRefused(f"too large: {size:,} bytes, at most {max_bytes:,} (INPUT_URL_MAX_MB)")
                data: bytes = body.read(max_bytes + 1)
            finally:
                body.close()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            code = str(error.get("Code") or status)
            if status >= 500 or code in _TRANSIENT_CODES:
                raise FetchFailed(f"S3 {code} (HTTP {status})") from None
            raise FetchRefused(f"S3 {code} (HTTP {status})") from None
        except BotoCoreError as exc:  # no connection, a read timeout
            raise FetchFailed(f"S3: {exc}") from None
        if len(data) > max_bytes:
            raise FetchRefused(f"too large: more than {max_bytes:,} bytes (INPUT_URL_MAX_MB)")
        return data
