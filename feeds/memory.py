"""A worker's memory, planned from one setting (`--cache-bytes`).

A worker holds the loaded snapshot, what it keeps between requests and what the
renders running at the moment hold. What it keeps is bounded by `cache_bytes`,
split between:

    published feeds, the index and OPML   1/2   (the documents every reader polls)
    composed feeds (any query parameter)  1/4   (a flood of new URLs evicts only these)
    article HTML, made once per article   1/8
    the fast lane's table of known URLs   1/8

What the renders hold is bounded by the render threads (feeds/cache.py: two),
and the allocator is told to give freed memory back rather than keep it for
later (`configure_allocator`). So a worker's peak RSS stays within

    RSS once loaded + cache_bytes + OVERHEAD_BYTES

which `make bench` checks under a load of random composed URLs
(bench/bench_memory.py), and docs/deploy.md turns into Kubernetes requests and
limits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from dataclasses import dataclass

log = logging.getLogger("feeds.memory")

# Measured (bench/bench_memory.py, docs/benchmarks.md): two renders of the
# largest feed at once (200 items, 512 KiB, with their lxml trees and compressed
# forms), the allocator's free lists and the interpreter's own caches.
OVERHEAD_BYTES = 48 * 1024 * 1024


@dataclass(frozen=True)
class Shares:
    """How `cache_bytes` is split; see the module's docstring."""

    published: int
    composed: int
    html: int
    known_urls: int

    @classmethod
    def of(cls, cache_bytes: int) -> Shares:
        return cls(
            published=cache_bytes // 2,
            composed=cache_bytes // 4,
            html=cache_bytes // 8,
            known_urls=cache_bytes // 8,
        )


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024  # blocks this large get their own mapping, unmapped when freed


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt, libc.malloc_trim  # noqa: B018 (glibc only)
    except (OSError, AttributeError, TypeError):
        return None
    return libc


_LIBC = _glibc()


def configure_allocator() -> None:
    """Tell glibc's malloc to keep few arenas and to give large blocks back.

    By default each thread that allocates may get an arena of its own (8 per
    core), and the threshold above which a block is mapped on its own grows with
    the largest block freed: rendered feeds (hundreds of KiB each) then land in
    the arenas, and freeing them leaves holes the process keeps. Measured under
    random composed URLs, that was most of a worker's growth. Elsewhere than
    glibc: nothing to do.
    """
    if _LIBC is None:
        return
    _LIBC.mallopt(_M_ARENA_MAX, 2)
    _LIBC.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)  # fixed: no longer grows
    _LIBC.mallopt(_M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD)


def trim() -> None:
    """Give the free pages in the heap's middle back to the system, not only its top."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
