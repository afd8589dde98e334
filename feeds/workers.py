"""Worker processes, for the work that can fill every core: parsing a large
folder, rendering a whole export."""

from __future__ import annotations

import multiprocessing
import os
import threading
from multiprocessing.context import BaseContext

MAX_WORKERS = 8


def worker_count() -> int:
    """How many worker processes pay: one per core (at most MAX_WORKERS); below
    2 there is nothing to gain from them."""
    return min(os.cpu_count() or 1, MAX_WORKERS)


def fork_context() -> BaseContext | None:
    """The fork start method when forking is safe here, else None.

    A forked worker starts in milliseconds and shares what this process has
    loaded without pickling it. Forking is only safe while this process runs
    one thread: a lock another thread held at the fork stays locked in the child
    forever. (ProcessPoolExecutor forks its workers before it starts its own
    threads.) `feeds build` and `feeds check` run one thread; the server does not.
    """
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return None
