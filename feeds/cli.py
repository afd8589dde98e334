"""The `feeds` command: check a content folder, serve it, or export it."""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from collections.abc import Sequence

from feeds.errors import ContentError
from feeds.loader import ContentLoader
from feeds.model import Severity
from feeds.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="feeds", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="load a content folder and report every problem")
    check.add_argument("content", nargs="?", help="content folder (default: FEEDS_CONTENT or content/)")

    serve = commands.add_parser("serve", help="serve the feeds over HTTP")
    Settings.add_arguments(serve)

    arguments = parser.parse_args(argv)
    if arguments.command == "check":
        return run_check(arguments.content)
    if arguments.command == "serve":
        from feeds.server import run_server

        return run_server(Settings.from_arguments(arguments))
    parser.error(f"unknown command {arguments.command}")
    return 2


def run_check(content: str | None) -> int:
    """Load the folder once; print a summary and every problem, path first.

    Exit 1 when a file was rejected (it is in no feed), else 0: what a content
    repository runs in its own CI.
    """
    logging.disable(logging.WARNING)  # the problems are printed below, once
    root = content or Settings.from_environment().content
    try:
        snapshot = ContentLoader(root).reload()
    except ContentError as error:
        print(f"feeds check: {error}", file=sys.stderr)
        return 2
    counts = snapshot.counts
    print(
        f"{root}: {counts.files} files, {counts.articles} articles in feeds, "
        f"{len(snapshot.topics)} topics, {len(snapshot.providers)} providers; "
        f"{counts.hidden} unpublished or removed, {counts.undated} undated, "
        f"{counts.duplicates} duplicates, {counts.rejected} rejected"
    )
    kinds = Counter(p.kind for p in snapshot.problems if p.severity is Severity.ERROR)
    if kinds:
        print("skipped files by reason: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    for problem in snapshot.problems:
        print(problem)
    return 1 if counts.rejected else 0


if __name__ == "__main__":
    sys.exit(main())
