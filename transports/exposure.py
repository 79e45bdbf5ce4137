"""Is the API reachable beyond this host, and open? The answer both transports show the operator."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for an address only this host can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def open_api_warnings(api_host: str, api_key: str | None, admin_api_key: str | None) -> list[str]:
    """What ``/health`` warns about: no key while listening beyond loopback."""
    if api_key or is_loopback(api_host):
        return []
    reach = "submit and cancel jobs" + ("" if admin_api_key else " and run /admin/*")
    return [f"API_KEY is not set and API_HOST={api_host} is not a loopback address: anyone who can reach "
            f"this port can {reach}; set API_KEY (and ADMIN_API_KEY)"]
