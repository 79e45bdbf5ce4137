"""The webhook settings checked once at start-up: a bad one stops the daemon with a line naming the variable.

``WEBHOOK_SECRET`` is a Standard Webhooks secret: ``whsec_`` then the base64 of the key (24 to 64 bytes, as
the specification asks). Messages never repeat the secret.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlsplit

from config.settings import Settings
from store.addresses import AddressPolicy, AddressRefused, check_url

PREFIX = "whsec_"
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64


def decode_secret(secret: str) -> bytes:
    """The signing key of a ``whsec_…`` secret; ValueError (without the secret in it) when it is not one."""
    if not secret.startswith(PREFIX):
        raise ValueError(f"must start with {PREFIX}")
    try:
        key = base64.b64decode(secret[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"must be {PREFIX} followed by base64") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(f"its key must be {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes (is {len(key)})")
    return key


def policy(settings: Settings) -> AddressPolicy:
    """Where webhooks may go."""
    return AddressPolicy(allow_private=settings.webhook_allow_private)


def problem(settings: Settings) -> str | None:
    """Why these webhook settings cannot work, naming the variable; None when they can."""
    if settings.webhook_secret is not None:
        try:
            decode_secret(settings.webhook_secret)
        except ValueError as exc:
            return f"WEBHOOK_SECRET is not a Standard Webhooks secret: {exc}"
    if settings.webhook_url is not None:
        try:
            check_url(settings.webhook_url, policy(settings))
        except AddressRefused as exc:
            return f"WEBHOOK_URL {exc}"
    if settings.public_base_url is not None:
        parts = urlsplit(settings.public_base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            return "PUBLIC_BASE_URL must be http(s)://host[:port][/path], without query or fragment"
    return None
