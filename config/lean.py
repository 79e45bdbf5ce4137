"""Each process imports only what its role uses: optional extras our libraries would load are hidden.

Some libraries import optional packages whenever they happen to be installed, for features no process of ours
uses: structlog's dev console (``rich``, ``pygments``, ``colorama``, ``better_exceptions``: about 8 MB and
0.2 s per process), httpx's command line (``click``, ``rich``, ``pygments``), Litestar's default plugins
(``pydantic`` and ``attrs``: about 10 MB and 0.5 s, for models we never declare). They are installed anyway
(the RunPod SDK's local API needs pydantic, uvicorn needs click), so ``hide(role)`` marks them as missing for
this process (``sys.modules[name] = None``: an import raises ImportError, and each library falls back as it
does when the package is absent). Call it first thing, before any of those libraries is imported.
Everything else a role does not need is imported lazily where it is used (see tests/test_imports.py).
"""

from __future__ import annotations

import sys

# structlog.dev's console extras (we only ever render JSON)
CONSOLE_EXTRAS = ("rich", "pygments", "colorama", "better_exceptions")

# decoders httpx and aiohttp use when installed; ComfyUI and our clients speak gzip at most
DECODERS = ("brotli", "brotlicffi", "zstandard")

# role (the CLI command) -> packages that process never imports
HIDDEN: dict[str, tuple[str, ...]] = {
    "run": (*CONSOLE_EXTRAS, "click"),  # the supervisor
    "executor": (*CONSOLE_EXTRAS, *DECODERS, "click"),  # click: httpx's command line
    "forwarder": (*CONSOLE_EXTRAS, "click"),  # httpx to RunPod (which may answer with a compressed body)
    # Litestar's pydantic, attrs and OpenTelemetry plugins; uvicorn's --reload
    "http": (*CONSOLE_EXTRAS, "pydantic", "attr", "attrs", "opentelemetry", "watchfiles"),
    # the SDK's local API is FastAPI (pydantic, OpenTelemetry) on uvicorn (click). Not used: aiohttp's async DNS,
    # FastAPI's e-mail fields and forms, requests' charset guessing (it falls back to UTF-8)
    # uvicorn's WebSocket protocols too (~3 MB): the SDK's API has no WebSocket route (uvicorn then refuses upgrades)
    "runpod": (*CONSOLE_EXTRAS, *DECODERS, "watchfiles", "aiodns", "pycares", "email_validator", "python_multipart",
               "multipart", "charset_normalizer", "chardet", "websockets", "wsproto"),
}


def hide(role: str) -> None:
    """Mark the packages ``role`` never uses as missing in this process (those already imported stay)."""
    for name in HIDDEN.get(role, CONSOLE_EXTRAS):
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def hide_openssl(urls: str | None) -> None:
    """For the supervisor, whose only TLS is its probe of an ``https`` COMFYUI_URL: without one, ``ssl`` and
    OpenSSL's hashes (``_hashlib``; hashlib falls back to its own sha256) are hidden, so libcrypto is never
    loaded (~5 MB; asyncio works without ssl). Call before asyncio or hashlib is imported."""
    if not any(url.strip().lower().startswith("https:") for url in (urls or "").split(",")):
        for name in ("ssl", "_hashlib"):
            sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def trim() -> None:
    """After start-up: collect garbage and give the C heap's free pages back to the system (glibc's
    ``malloc_trim``). Compiling modules without cached bytecode leaves megabytes of freed memory behind."""
    import contextlib
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: not glibc
        ctypes.CDLL(None).malloc_trim(0)
