"""Slow and half-open clients: header and body deadlines, and a bounded connection table.

uvicorn has a keep-alive timeout, a cap on an unfinished request's size
(`h11_max_incomplete_event_size`) and `limit_concurrency` (503 past N connections), but no
header or body timeout: a client that sends a request line and one header, then nothing, holds
its socket forever. 20,000 of them exhausted the file descriptors (`Errno 24`) and `/health`
stopped answering (issue 19 item 6). `limit_concurrency` alone would turn that into 503s for
everyone. So uvicorn's own h11 protocol is extended by two things it lacks:

- a deadline for the request line and headers (`header_timeout`, from the connection's start or
  the end of the previous response) and one for the body (`body_timeout`, from the end of the
  headers); a connection past its deadline is closed;
- a table of open connections: when it is full, the oldest connections still waiting for their
  headers are closed to make room, so an idle crowd cannot lock out a real request.

`uvicorn_settings(limits)` gives the uvicorn.Config keywords: the protocol class, keep-alive,
header size cap and `limit_concurrency` as a backstop above the table's size.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import OrderedDict
from dataclasses import dataclass

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from cnnlab.errors import CnnlabError

log = logging.getLogger("cnnlab.serve")


@dataclass(frozen=True)
class ConnectionLimits:
    """What one client may hold of the server.

    header_timeout: seconds to send the request line and headers.
    body_timeout: seconds to send the body once the headers are in.
    keep_alive: seconds an idle keep-alive connection stays open (uvicorn's timeout_keep_alive).
    max_connections: open connections; past it, the oldest ones waiting for headers are closed.
    max_header_bytes: an unfinished request line + headers larger than this gets 400.
    """

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keep_alive: float = 5.0
    max_connections: int = 8192
    max_header_bytes: int = 16 * 1024

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "keep_alive"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value < 1e6):
                raise CnnlabError(f"{name}: {value} (expected a positive number of seconds)")
        if not (isinstance(self.max_connections, int) and self.max_connections >= 1):
            raise CnnlabError(f"max_connections: {self.max_connections} (expected a positive integer)")
        if not (isinstance(self.max_header_bytes, int) and self.max_header_bytes >= 1024):
            raise CnnlabError(f"max_header_bytes: {self.max_header_bytes} (expected at least 1024)")


class _GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with header/body deadlines and a shared connection table.
    Subclassed once per server by `guarded_protocol` (the class attributes are per server)."""

    limits: ConnectionLimits
    table: "OrderedDict[_GuardedH11, None]"

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._timer: asyncio.TimerHandle | None = None
        self._phase: str | None = None
        self.table[self] = None
        self._arm("headers")
        if len(self.table) > self.limits.max_connections:
            self._evict(len(self.table) - self.limits.max_connections)

    def connection_lost(self, exc: Exception | None) -> None:
        self.table.pop(self, None)
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and self._head_too_large(data):
            return self._refuse_head()
        super().data_received(data)
        self._follow_state()

    def _head_too_large(self, data: bytes) -> bool:
        """h11 caps only an *unfinished* head: a 100 kB head arriving in one read was accepted."""
        limit = self.limits.max_header_bytes
        pending = self.conn.trailing_data[0] + data if self.conn.trailing_data[0] else data
        end = pending.find(b"\r\n\r\n", 0, limit + 4)
        return end < 0 and len(pending) > limit

    def _refuse_head(self) -> None:
        body = (b'{"detail": "request line and headers are over the limit of %d bytes"}'
                % self.limits.max_header_bytes)
        self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
                             b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        self._disarm()
        self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_state()

    # --- deadlines ------------------------------------------------------------------------------

    def _follow_state(self) -> None:
        """Arm the deadline that fits where the request is: waiting for headers, for the body,
        or none while the app works on a complete request."""
        if self.transport.is_closing():
            return self._disarm()
        state = self.conn.their_state
        if state is h11.IDLE:
            if self._phase != "headers":
                self._arm("headers")
        elif state is h11.SEND_BODY:
            if self._phase != "body":
                self._arm("body")
        else:
            self._disarm()

    def _arm(self, phase: str) -> None:
        self._disarm()
        seconds = self.limits.header_timeout if phase == "headers" else self.limits.body_timeout
        self._phase = phase
        self._timer = self.loop.call_later(seconds, self._expired, phase)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._phase = None

    def _expired(self, phase: str) -> None:
        self._timer = None
        if not self.transport.is_closing():
            log.debug("closing %s: no complete request %s within %.0f s", self.client, phase,
                      self.limits.header_timeout if phase == "headers" else self.limits.body_timeout)
            self._close()

    # --- the table --------------------------------------------------------------------------------

    def _waiting_for_headers(self) -> bool:
        return self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)

    def _evict(self, count: int) -> None:
        """Close the `count` oldest connections still waiting for their headers (never this one)."""
        victims = []
        for conn in self.table:
            if len(victims) == count:
                break
            if conn is not self and conn._waiting_for_headers():
                victims.append(conn)
        for conn in victims:
            self.table.pop(conn, None)
            conn._disarm()
            conn._close()

    def _close(self) -> None:
        try:
            self.conn.send(h11.ConnectionClosed())
        except h11.LocalProtocolError:
            pass  # mid-request: h11 will not say goodbye; the socket closes anyway
        self.transport.close()


def guarded_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """A protocol class for uvicorn.Config(http=...) enforcing `limits`, with its own table."""
    return type("CnnlabH11Protocol", (_GuardedH11,), {"limits": limits, "table": OrderedDict()})


def raise_open_files_limit(wanted: int) -> int:
    """Raise this process's soft limit on open files toward `wanted` (up to the hard limit);
    returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


# File descriptors kept free beyond the connection table: the model, logs, uploads spooled to
# temporary files, the listening socket.
FD_RESERVE = 256


def uvicorn_settings(limits: ConnectionLimits) -> dict:
    """uvicorn.Config keywords enforcing `limits`. The connection table is capped below the
    process's open-files limit (raised first where allowed), so accept() never fails."""
    available = raise_open_files_limit(limits.max_connections + FD_RESERVE)
    table = limits
    if limits.max_connections + FD_RESERVE > available:
        capped = max(16, available - FD_RESERVE)
        log.warning("max_connections %d lowered to %d: the open-files limit is %d",
                    limits.max_connections, capped, available)
        table = ConnectionLimits(limits.header_timeout, limits.body_timeout, limits.keep_alive, capped,
                                 limits.max_header_bytes)
    return {
        "http": guarded_protocol(table),
        "timeout_keep_alive": limits.keep_alive,
        "h11_max_incomplete_event_size": limits.max_header_bytes,
        # A backstop only: the table keeps connections at max_connections; the slack covers the
        # ones closed by eviction whose connection_lost has not run yet.
        "limit_concurrency": table.max_connections + 64,
    }
