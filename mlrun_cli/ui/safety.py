"""Which requests the view serves.

- The Host header must name the address the server is bound to, or localhost: a page of
  another site that made its own name resolve to 127.0.0.1 (DNS rebinding) is refused.
- Off loopback, every request needs the token (from ``?token=``, which sets a cookie, as
  Jupyter does; or the cookie; or the ``X-Mlrun-Token`` header).
- A write (delete, restore, tag) needs the token in the ``X-Mlrun-Token`` header whatever the
  address, and no foreign Origin: a custom header cannot be sent across origins without a
  preflight, which this server never grants.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Mapping

COOKIE = "mlrun_ui_token"
HEADER = "X-Mlrun-Token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("0.0.0.0", "::", "")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a Host header, without its port (``[::1]:5000`` is ``::1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


class Gate:
    """The rules for one server: the address it is bound to and its token."""

    def __init__(self, bound: str, token: str) -> None:
        self.bound = bound.strip("[]").lower()
        self.token = token
        self.open_reads = is_loopback(self.bound)  # loopback: reading needs no token

    def host_ok(self, host: str | None) -> bool:
        if not host:
            return False
        name = host_name(host)
        if self.bound in WILDCARDS:
            return True  # any name reaches it: the token (required off loopback) guards it
        return name == self.bound or name in LOOPBACK_NAMES

    def has_token(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given), self.token)

    def check(
        self,
        method: str,
        headers: Mapping[str, str],
        query_token: str | None,
        cookies: Mapping[str, str],
    ) -> tuple[int, str] | None:
        """None when the request may be served, else (HTTP status, why)."""
        headers = {k.lower(): v for k, v in headers.items()}  # names are case-insensitive
        if not self.host_ok(headers.get("host")):
            return 403, "this server answers only requests addressed to its own host name"
        header_token = headers.get(HEADER.lower())
        known = (
            self.has_token(header_token)
            or self.has_token(cookies.get(COOKIE))
            or self.has_token(query_token)
        )
        if method != "GET":
            if not self.has_token(header_token):
                return 403, f"a write needs the token in the {HEADER} header"
            origin = headers.get("origin")
            if origin and origin.lower() not in self.origins(headers.get("host", "")):
                return 403, "a write must come from this server's own pages"
            if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
                return 403, "a write must come from this server's own pages"
            return None
        if not self.open_reads and not known:
            return 401, "this server needs its token: open the URL it printed (with ?token=...)"
        return None

    @staticmethod
    def origins(host: str) -> set[str]:
        host = host.strip().lower()
        return {f"http://{host}", f"https://{host}"}


def parse_cookies(header: str | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            found[name] = value
    return found
