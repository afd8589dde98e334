"""uvicorn's httptools HTTP/1.1 protocol, with the two guards a server on the open
internet needs and httptools lacks:

- a bounded request head: httptools buffers a header of any size (one 200 MB
  header grew a worker by 400 MB); past `MAX_HEAD_BYTES` the client gets 431
  and the connection is closed;
- a deadline to send it: uvicorn's keep-alive timeout starts only after a
  response, and every byte a client trickles re-arms nothing else, so slow or
  idle connections would pile up until every other client got 503; a head not
  complete within `HEAD_TIMEOUT` seconds closes the connection.

And one economy: uvicorn writes a response's head and its body to the socket
separately, two system calls and two TCP segments for every response; what is
written in one turn of the event loop now goes out in one write
(`CoalescingTransport`), as nginx sends a cached file's head and body together.
On a cached feed that was a third of a worker's time (py-spy, bench/README.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 16 * 1024  # request line and headers: a feed reader sends well under 2 KiB
HEAD_TIMEOUT = 10.0  # seconds from connecting (or the last response) to a complete head

_TOO_LARGE_BODY = b"request head is too large\n"
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_TOO_LARGE_BODY), _TOO_LARGE_BODY)
)


class CoalescingTransport:
    """A transport whose writes made in one turn of the event loop reach the socket
    as one write, at the end of that turn; everything else is the transport's own."""

    __slots__ = ("_transport", "_loop", "_pending")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self._flush)
        else:
            self._pending.append(data)

    def _flush(self) -> None:
        pending, self._pending = self._pending, None
        # A connection lost meanwhile takes nothing more (uvloop would raise).
        if pending and not self._transport.is_closing():
            # writelines: one writev of the parts, not a copy of them joined (a
            # feed's body is hundreds of KiB; a block that large is a fresh mapping
            # from the allocator, feeds/memory.py: 50 page faults per response).
            self._transport.writelines(pending)

    def close(self) -> None:
        self._flush()  # what was written goes out before the connection closes
        self._transport.close()

    def get_write_buffer_size(self) -> int:
        waiting = sum(map(len, self._pending)) if self._pending else 0
        return self._transport.get_write_buffer_size() + waiting

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        coalescing = CoalescingTransport(transport, self.loop)
        super().connection_made(coalescing)  # type: ignore[arg-type]
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._await_head()

    def _await_head(self) -> None:
        """A request head is due: count its bytes and start its deadline."""
        self._reading_head = True
        self._head_bytes = 0
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT, self._head_too_slow)

    def _head_too_slow(self) -> None:
        if self._reading_head and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                if not self.transport.is_closing():
                    self.transport.write(_TOO_LARGE)
                    self.transport.close()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_head()  # the next request on this connection

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)
