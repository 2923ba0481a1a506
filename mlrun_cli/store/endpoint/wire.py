"""HTTP/1.1 framing for the loopback endpoint: request heads, bodies and responses.

Everything a client sends is parsed defensively: every line, the header count, the head and
the body are bounded, and anything malformed is an `HttpError` carrying the HTTP status and
MLflow's JSON error shape, never an exception of the parser. Standard library only, and
cheap to import (see `server`).
"""

from __future__ import annotations

import contextlib
import json
import socket
import time

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any

# The limits on what a client sends. A request of MLflow's client has a head of a few hundred
# bytes (its longest line is a GET with the run id and metric key in the query) and ten or
# so headers; these leave a wide margin and still bound what a stranger can make us hold.
MAX_LINE = 16 * 1024  # one request or header line (the query of a GET is in it)
MAX_HEADERS = 64  # header lines of one request, and trailer lines of a chunked body
MAX_HEAD = 64 * 1024  # the request line and every header line together
MAX_BODY = 64 * 1024 * 1024  # a log-batch of MLflow's limits is far smaller
CHUNKED = -1  # `body_length` of a chunked body: its length is known once it is read
# After an error answer the connection is half-closed and what the client still sends is
# read and dropped for up to LINGER seconds (and MAX_DRAIN bytes): closing with unread input
# sends a reset, which can destroy the answer before the client has read it.
LINGER = 1.0
MAX_DRAIN = 1024 * 1024

# Headers that frame or authorise a request: two of one are refused, since two parsers
# (a proxy, a client library) could each believe a different one.
SINGLE = frozenset(("content-length", "transfer-encoding", "authorization", "host"))
_HEX = b"0123456789abcdefABCDEF"

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


class HttpError(Exception):
    """A request refused before (or instead of) a handler: its status and MLflow's error."""

    def __init__(self, status: int, message: str, error_code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message

    def payload(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}


class Head:
    """A request line and its headers (names lower-cased).

    A plain class: one is made per request, and `@valueclass` would cost its definition at
    every start-up for equality and hashing nothing uses.
    """

    __slots__ = ("headers", "method", "target", "version")

    def __init__(self, method: str, target: str, version: str, headers: dict[str, str]) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers

    @property
    def close(self) -> bool:
        """Whether the client asked for the connection to end after this request."""
        tokens = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" not in tokens
        return "close" in tokens


def head_end(buf: bytes | bytearray) -> tuple[int, int] | None:
    """Where the head in `buf` ends (the blank line's start and end), if it is all there.

    Lines may end in CRLF or a bare LF; a regular expression would cost its compilation at
    every start-up.
    """
    i = buf.find(b"\n")
    while i >= 0:
        j = i + 1
        if buf[j : j + 1] == b"\r":
            j += 1
        if buf[j : j + 1] == b"\n":
            return i, j + 1
        i = buf.find(b"\n", i + 1)
    return None


def parse_head(raw: bytes) -> Head:
    """The request line and headers of a head (without its final blank line)."""
    lines = raw.split(b"\n")
    if len(lines) - 1 > MAX_HEADERS:
        raise HttpError(431, f"more than {MAX_HEADERS} header lines")
    request_line = lines[0].rstrip(b"\r")
    if len(request_line) > MAX_LINE:
        raise HttpError(414, f"the request line is longer than {MAX_LINE} bytes")
    parts = request_line.decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[0].isascii() or not parts[0].isalpha() or not parts[1]:
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        if version.startswith("HTTP/"):
            raise HttpError(505, f"{version} is not served", "NOT_IMPLEMENTED")
        raise HttpError(400, "malformed request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if len(line) > MAX_LINE:
            raise HttpError(431, f"a header line is longer than {MAX_LINE} bytes")
        text = line.rstrip(b"\r").decode("latin-1")
        name, sep, value = text.partition(":")
        # No colon, an empty name, whitespace before the colon, or an obsolete folded
        # continuation line: all refused, as RFC 9112 asks of a server.
        if not sep or not name or name != name.strip():
            raise HttpError(400, "malformed header line")
        key, value = name.lower(), value.strip(" \t")
        if key in headers:
            if key in SINGLE:
                raise HttpError(400, f"more than one {name} header")
            value = f"{headers[key]}, {value}"
        headers[key] = value
    return Head(method, target, version, headers)


def body_length(head: Head) -> int:
    """The body's length by its headers: a byte count, 0 for none, or CHUNKED."""
    encoding = head.headers.get("transfer-encoding")
    length = head.headers.get("content-length")
    if encoding is not None:
        if length is not None:
            raise HttpError(400, "both Transfer-Encoding and Content-Length are given")
        if encoding.lower() != "chunked" or head.version == "HTTP/1.0":
            raise HttpError(501, f"transfer coding {encoding!r} is not served", "NOT_IMPLEMENTED")
        return CHUNKED
    if length is None:
        return 0  # a request with neither header has no body (RFC 9112 6.3)
    # Digits only: int() would also take "+5", " 5", "5_0" and non-ASCII digits.
    if not length.isascii() or not length.isdigit():
        raise HttpError(400, f"invalid Content-Length {length[:40]!r}")
    if len(length) > 12 or int(length) > MAX_BODY:
        raise HttpError(413, f"the body is larger than {MAX_BODY} bytes")
    return int(length)


def response(status: int, payload: Any, close: bool, extra: str = "") -> bytes:
    """A whole JSON response; `extra` is more header lines, each ending in CRLF."""
    data = json.dumps(payload).encode()
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n"
        f"Connection: {'close' if close else 'keep-alive'}\r\n{extra}\r\n"
    )
    return head.encode() + data


def linger(conn: socket.socket, answer: bytes) -> None:
    """Send a last answer on a blocking connection, half-close, drop what still comes."""
    with contextlib.suppress(OSError):
        conn.sendall(answer)
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(LINGER)
        deadline, drained = time.monotonic() + LINGER, 0
        while drained < MAX_DRAIN and time.monotonic() < deadline:
            data = conn.recv(65536)
            if not data:
                return
            drained += len(data)


class Reader:
    """Blocking reads of requests from a connection, starting with bytes already received.

    The socket's timeout bounds each wait; a timeout or a reset is an `OSError` for the
    caller, a malformed request an `HttpError`.
    """

    def __init__(self, conn: socket.socket, received: bytes) -> None:
        self.conn = conn
        self.buf = bytearray(received)

    def _fill(self) -> bool:
        data = self.conn.recv(65536)
        self.buf += data
        return bool(data)

    def read_head(self) -> bytes | None:
        """The next request's head, or None when the client closed between requests."""
        while True:
            if self.buf[:1] in (b"\r", b"\n"):
                # Blank lines before a request line are ignored, as RFC 9112 allows.
                del self.buf[: len(self.buf) - len(self.buf.lstrip(b"\r\n"))]
            end = head_end(self.buf)
            if end is not None:
                raw = bytes(self.buf[: end[0]])
                del self.buf[: end[1]]
                return raw
            if len(self.buf) > MAX_HEAD:
                raise HttpError(431, f"the request head is longer than {MAX_HEAD} bytes")
            if not self._fill():
                if self.buf:
                    raise HttpError(400, "the connection ended inside a request head")
                return None

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise HttpError(400, "the connection ended inside a request body")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_line(self) -> bytes:
        """One line (without its line end) of at most MAX_LINE bytes."""
        while (i := self.buf.find(b"\n", 0, MAX_LINE + 2)) < 0:
            if len(self.buf) > MAX_LINE + 1:
                raise HttpError(400, f"a line of the chunked body is longer than {MAX_LINE}")
            if not self._fill():
                raise HttpError(400, "the connection ended inside a request body")
        line = bytes(self.buf[:i]).rstrip(b"\r")
        del self.buf[: i + 1]
        return line

    def read_body(self, length: int) -> bytes:
        return self.read_exact(length) if length != CHUNKED else self._dechunk()

    def _dechunk(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size = self.read_line().split(b";", 1)[0].strip(b" \t")
            # Hex digits only: int(x, 16) would also take "0x10", "+1" and "1_0".
            if not size or len(size) > 8 or size.translate(None, _HEX):
                raise HttpError(400, "malformed chunk size")
            n = int(size, 16)
            if n == 0:
                break
            total += n
            if total > MAX_BODY:
                raise HttpError(413, f"the body is larger than {MAX_BODY} bytes")
            parts.append(self.read_exact(n))
            if self.read_line():
                raise HttpError(400, "a chunk is longer than its size")
        for _ in range(MAX_HEADERS + 1):  # trailer lines, ignored, up to the blank line
            if not self.read_line():
                return b"".join(parts)
        raise HttpError(431, f"more than {MAX_HEADERS} trailer lines")
