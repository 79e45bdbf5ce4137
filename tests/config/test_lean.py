"""config.lean.hide_openssl: the supervisor loads OpenSSL only when COMFYUI_URL needs it (a fresh process each)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from config import lean
lean.hide_openssl(sys.argv[1] or None)
import asyncio, hashlib, hmac, secrets  # all of them work without OpenSSL (asyncio imports ssl if it can)
assert hashlib.sha256(b"x").hexdigest().startswith("2d711642") and len(secrets.token_hex(4)) == 8
libcrypto = "libcrypto" in open("/proc/self/maps").read()
print({(True, True): "ssl", (False, False): "no-ssl"}.get((sys.modules.get("ssl") is not None, libcrypto), "mixed"))
"""


def loaded(urls: str) -> str:
    out = subprocess.run([sys.executable, "-c", PROBE, urls], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.parametrize("urls", ["", "http://127.0.0.1:8188", "http://a:1, http://b:2"])
def test_without_an_https_comfyui_ssl_is_never_loaded(urls: str) -> None:
    assert loaded(urls) == "no-ssl"


@pytest.mark.parametrize("urls", ["https://comfy.example:443", "http://a:1,HTTPS://b:2", " https://c"])
def test_an_https_comfyui_keeps_ssl(urls: str) -> None:
    assert loaded(urls) == "ssl"


def test_an_https_probe_still_works_after_hiding_nothing() -> None:
    """With an https URL the supervisor's probe can build its TLS connection (ssl imports and works)."""
    probe = ("import sys\nfrom config import lean\nlean.hide_openssl('https://x')\n"
             "import ssl\nprint(type(ssl.create_default_context()).__name__)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "SSLContext", out.stderr
