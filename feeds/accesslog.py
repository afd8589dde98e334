"""The access log: one line per request, written in batches.

uvicorn's access logger makes a log record, formats it and flushes the stream
for every request; under load that halved the requests a worker could answer
(bench/bench_serve.py, log on against off). Here a request costs one formatted
string appended to a list, and the lines go out together a fraction of a second
later, and at shutdown.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TextIO

from starlette.types import Scope

FLUSH_EVERY = 0.2  # seconds a line may wait before it is written


class AccessLog:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream  # None: sys.stderr as it is when a batch is written
        self._lines: list[str] = []
        self._flush_scheduled = False
        self._second = -1
        self._stamp = ""

    def record(self, scope: Scope, status: int, size: int, user_agent: str) -> None:
        """`203.0.113.9:50000 - "GET /feeds/all.rss?type=video HTTP/1.1" 200 16151 "UA"`,
        after the time (UTC) the request was answered: what a combined log says, less
        the referer. `user_agent` comes escaped (feeds.readers.escape_for_log)."""
        now = int(time.time())
        if now != self._second:
            self._second, self._stamp = now, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        client = scope.get("client")
        who = f"{client[0]}:{client[1]}" if client else "-"
        query = scope.get("query_string", b"")
        target = scope["path"] + ("?" + query.decode("latin-1") if query else "")
        version = scope.get("http_version", "1.1")
        request = f'"{scope["method"]} {target} HTTP/{version}"'
        self._lines.append(f'{self._stamp} {who} - {request} {status} {size} "{user_agent}"\n')
        if not self._flush_scheduled:
            try:
                asyncio.get_running_loop().call_later(FLUSH_EVERY, self.flush)
                self._flush_scheduled = True
            except RuntimeError:  # no event loop: write at once
                self.flush()

    def flush(self) -> None:
        self._flush_scheduled = False
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        stream = self.stream or sys.stderr
        stream.write("".join(lines))
        stream.flush()
