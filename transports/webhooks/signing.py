"""Standard Webhooks headers (https://www.standardwebhooks.com): ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature`` = ``v1,`` + base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>")).

The id is the event's (the same on every attempt and redelivery, so a receiver drops duplicates); the timestamp
is the attempt's (a receiver refuses old ones: replay protection). Without a key the first two only are sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def headers(key: bytes | None, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    found = {"webhook-id": event_id, "webhook-timestamp": str(timestamp)}
    if key:
        signed = f"{event_id}.{timestamp}.".encode() + body
        digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        found["webhook-signature"] = f"v1,{digest}"
    return found
