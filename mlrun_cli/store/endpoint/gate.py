"""The loopback endpoint's door: every new connection, until it shows the token.

Any process on the machine can connect to the endpoint, so a connection is a stranger's
until its first request head carries the run's token. One thread (`Gate.run`) accepts them
and reads their heads without blocking, so a stranger costs a file descriptor and a small
buffer, never a thread; it closes those that send no complete head in time, and answers
refused ones with MLflow's JSON error shape. A head that `admit` accepts hands the
connection over (with what was received after the head) to a thread of the server's.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time

from mlrun_cli.store.endpoint import wire
from mlrun_cli.store.endpoint.wire import Head, HttpError

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from collections.abc import Callable

    # admit(conn, head, received): takes the connection, or raises HttpError to refuse it.
    Admit = Callable[[socket.socket, Head, bytes], None]

# A stranger's connection costs a file descriptor and at most wire.MAX_HEAD buffered bytes.
# Beyond MAX_PENDING of them the oldest is closed: a flood of idle connections then only
# pushes out other idle ones, while a real client's, which sends its request as soon as it
# connects, is read within the same few milliseconds.
MAX_PENDING = 64
# A new connection must deliver a complete request head within this many seconds (MLflow's
# client sends it in one write right after connecting); a slow-loris is closed after it.
HEAD_TIMEOUT = 5.0
# Connections accepted per turn of the loop, so that reading those already accepted is
# never starved by a burst of new ones.
ACCEPT_BURST = 16


class _Pending:
    """A connection that has not yet sent a complete, admitted request head."""

    __slots__ = ("buf", "conn", "deadline", "drained", "draining")

    def __init__(self, conn: socket.socket, deadline: float) -> None:
        self.conn = conn
        self.buf = bytearray()
        self.deadline = deadline
        self.draining = False  # answered with an error: its input is read and dropped
        self.drained = 0


class Gate:
    """Accepts on `sock` (listening, non-blocking) and reads heads until `stop()`."""

    def __init__(self, sock: socket.socket, admit: Admit) -> None:
        self.sock = sock
        self.admit = admit
        self._wake_r, self._wake_w = socket.socketpair()  # stop() wakes the loop with it
        self._wake_r.setblocking(False)
        self._poller = select.poll()
        self._pending: dict[int, _Pending] = {}  # by file descriptor, oldest first
        self._closing = False

    def stop(self) -> None:
        """Make `run` return; it closes every connection it still holds."""
        self._closing = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def close(self) -> None:
        """Release the wake-up sockets, once `run` has returned."""
        self._wake_r.close()
        self._wake_w.close()

    def run(self) -> None:
        listening, wake = self.sock.fileno(), self._wake_r.fileno()
        self._poller.register(listening, select.POLLIN)
        self._poller.register(wake, select.POLLIN)
        pending = self._pending
        try:
            while not self._closing:
                soonest = min((p.deadline for p in pending.values()), default=None)
                wait = None if soonest is None else max(0.0, soonest - time.monotonic())
                for fd, _ in self._poller.poll(None if wait is None else wait * 1000 + 1):
                    if fd == listening:
                        self._accept()
                    elif fd == wake:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(64)
                    elif (p := pending.get(fd)) is not None:
                        try:
                            self._feed(p)
                        except Exception:  # a fault of ours must not end the loop
                            self._drop(p)
                self._expire(time.monotonic())
        except Exception:  # nothing may print a traceback on the user's terminal
            self._closing = True
        finally:
            for p in pending.values():
                with contextlib.suppress(OSError):
                    p.conn.close()
            pending.clear()

    def _accept(self) -> None:
        for _ in range(ACCEPT_BURST):
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return
            except OSError:
                # Out of file descriptors (EMFILE): free one, or the listening socket would
                # stay readable and the loop would spin.
                if self._pending:
                    self._drop(next(iter(self._pending.values())))
                return
            conn.setblocking(False)
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if len(self._pending) >= MAX_PENDING:
                self._drop(next(iter(self._pending.values())))
            self._pending[conn.fileno()] = _Pending(conn, time.monotonic() + HEAD_TIMEOUT)
            self._poller.register(conn.fileno(), select.POLLIN)

    def _feed(self, p: _Pending) -> None:
        try:
            data = p.conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data or (p.draining and p.drained + len(data) > wire.MAX_DRAIN):
            self._drop(p)
            return
        if p.draining:
            p.drained += len(data)
            return
        p.buf += data
        if p.buf[:1] in (b"\r", b"\n"):  # blank lines before a request line are ignored
            del p.buf[: len(p.buf) - len(p.buf.lstrip(b"\r\n"))]
        end = wire.head_end(p.buf)
        if end is None:
            if len(p.buf) > wire.MAX_HEAD:
                self._refuse(p, HttpError(431, f"the request head is over {wire.MAX_HEAD} bytes"))
            return
        fd = p.conn.fileno()
        self._poller.unregister(fd)
        del self._pending[fd]
        try:
            self.admit(p.conn, wire.parse_head(bytes(p.buf[: end[0]])), bytes(p.buf[end[1] :]))
        except HttpError as exc:
            self._pending[fd] = p
            self._poller.register(fd, select.POLLIN)
            self._refuse(p, exc)

    @staticmethod
    def _refuse(p: _Pending, exc: HttpError) -> None:
        """Answer with the error, half-close, and drop what still comes for wire.LINGER."""
        extra = "Retry-After: 1\r\n" if exc.status == 503 else ""
        with contextlib.suppress(OSError):
            # A fresh socket's send buffer takes this small answer whole.
            p.conn.send(wire.response(exc.status, exc.payload(), True, extra))
        with contextlib.suppress(OSError):
            p.conn.shutdown(socket.SHUT_WR)
        p.draining, p.buf = True, bytearray()
        p.deadline = time.monotonic() + wire.LINGER

    def _expire(self, now: float) -> None:
        for p in [p for p in self._pending.values() if p.deadline <= now]:
            if p.draining or not p.buf:
                self._drop(p)  # an idle connection is closed without a word
            else:
                msg = f"no complete request head within {HEAD_TIMEOUT:g} seconds"
                self._refuse(p, HttpError(408, msg, "DEADLINE_EXCEEDED"))

    def _drop(self, p: _Pending) -> None:
        fd = p.conn.fileno()
        if self._pending.pop(fd, None) is not None:
            self._poller.unregister(fd)
        with contextlib.suppress(OSError):
            p.conn.close()
