"""Worker processes, for the work that can fill every core: parsing a large
folder, rendering a whole export."""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
from multiprocessing.context import BaseContext
from pathlib import Path

MAX_WORKERS = 8
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "QUOTA PERIOD" or "max PERIOD"


def worker_count() -> int:
    """How many worker processes pay: one per core this process may use, at most
    MAX_WORKERS; below 2 there is nothing to gain from them.

    The cores it may use: those it is pinned to, and no more than its container's
    CPU quota. A pod limited to one CPU on a 16-core node sees 16 cores in
    os.cpu_count(); 8 workers there would share one CPU's time and gain nothing.
    """
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:  # not Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit(CGROUP_CPU_MAX)
    if quota is not None:
        cores = min(cores, quota)
    return max(1, min(cores, MAX_WORKERS))


def cgroup_cpu_limit(cpu_max: Path) -> int | None:
    """The CPU quota a cgroup v2 `cpu.max` file sets, in whole CPUs rounded up;
    None when there is no such file or no quota ("max")."""
    try:
        fields = cpu_max.read_text().split()
    except OSError:
        return None
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    if quota <= 0 or period <= 0:
        return None
    return max(1, math.ceil(quota / period))


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
