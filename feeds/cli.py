"""The `feeds` command: check a content folder, serve it, export it, or count its readers."""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from feeds.check import FORMATS, FORMATTERS, USAGE, UsageError, check_files, check_folder
from feeds.errors import ContentError
from feeds.loader import ContentLoader
from feeds.settings import Settings

if TYPE_CHECKING:
    from feeds.export import Choice
    from feeds.feed import Format, Page


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="feeds", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser(
        "check",
        help="load a content folder and report every problem",
        description="Exit status: 0 clean, 1 problems (a file rejected; with --strict, any "
        "problem), 2 usage error or the content folder missing.",
    )
    check.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="the content folder (default: FEEDS_CONTENT or content/); with --content, "
        "files of that folder to check, judged against the whole folder",
    )
    check.add_argument("--content", metavar="DIR", help="the content folder")
    check.add_argument("--format", choices=FORMATS, default="text", help="output (default: text)")
    check.add_argument("--strict", action="store_true", help="warnings fail the run too")

    serve = commands.add_parser("serve", help="serve the feeds over HTTP")
    Settings.add_arguments(serve)

    build = commands.add_parser(
        "build", help="write every feed, the index page and OPML to a folder, as served"
    )
    build.add_argument("--out", required=True, metavar="DIR", help="folder to write to")
    build.add_argument("--gzip", action="store_true", help="also write FILE.gz beside each file")
    build.add_argument("--brotli", action="store_true", help="also write FILE.br beside each file")
    build.add_argument(
        "--force", action="store_true",
        help="render every document, even those whose inputs did not change",
    )  # fmt: skip
    build.add_argument(
        "--formats", type=_choices("rss", "atom", "json", "html", "opml"), default=None,
        metavar="LIST",
        help="only these formats of each feed, e.g. rss,atom; html is its preview page, "
        "opml its own OPML (default: all five)",
    )  # fmt: skip
    build.add_argument(
        "--feeds", type=_choices("all", "topics", "providers", "pages"), default=None,
        metavar="LIST",
        help="only these feeds: all, topics, providers, and pages (index.html, opml.xml), "
        "e.g. all,topics (default: all four)",
    )  # fmt: skip
    build.add_argument("--no-archives", action="store_true", help="no archive pages")
    build.add_argument(
        "--cache", metavar="DIR", default=None,
        help="folder of the parse cache, which makes the next build parse only changed "
        "files (default: $XDG_CACHE_HOME/feeds or ~/.cache/feeds)",
    )  # fmt: skip
    Settings.add_arguments(build)

    stats = commands.add_parser(
        "stats", help="subscribers, direct readers and polls per feed, from access logs"
    )
    stats.add_argument("logs", nargs="+", metavar="ACCESS_LOG", help="access logs (.gz too)")
    stats.add_argument("--format", choices=["text", "json"], default="text", help="text or json")

    arguments = parser.parse_args(argv)
    if arguments.command == "check":
        if arguments.content is None and len(arguments.paths) > 1:
            parser.error("check: name the folder with --content DIR to check some of its files")
        content, files = (
            (arguments.content, arguments.paths)
            if arguments.content is not None
            else (arguments.paths[0] if arguments.paths else None, [])
        )
        return run_check(content, files, arguments.format, strict=arguments.strict)
    if arguments.command == "serve":
        from feeds.server import run_server

        return run_server(Settings.from_arguments(arguments))
    if arguments.command == "build":
        given = bool(arguments.base_url or os.environ.get("FEEDS_BASE_URL"))
        settings = Settings.from_arguments(arguments)
        from feeds.export import Choice

        choice = Choice()
        if arguments.formats:
            choice = replace(choice, formats=frozenset(_view(f) for f in arguments.formats))
        if arguments.feeds:
            choice = replace(choice, kinds=frozenset(arguments.feeds))
        if arguments.no_archives:
            choice = replace(choice, archives=False)
        return run_build(settings, arguments.out, gzip=arguments.gzip, brotli=arguments.brotli,
                         base_url_given=given, force=arguments.force, choice=choice,
                         cache=arguments.cache)  # fmt: skip
    if arguments.command == "stats":
        return run_stats(arguments.logs, arguments.format)
    parser.error(f"unknown command {arguments.command}")
    return 2


def run_check(content: str | None, files: Sequence[str] = (), output: str = "text",
              *, strict: bool = False) -> int:  # fmt: skip
    """Check the folder (or only `files` of it, against the whole folder); print the
    report in the `output` format.

    Exit 1 when a file was rejected (it is in no feed), or with `strict` on any
    problem; 2 when the folder or a named file cannot be checked; else 0: what a
    content repository runs in its own CI and pre-commit hook.
    """
    logging.disable(logging.WARNING)  # the problems are printed below, once
    root = content or Settings.from_environment().content
    try:
        report = check_files(root, files) if files else check_folder(root)
    except (ContentError, UsageError) as error:
        print(f"feeds check: {error}", file=sys.stderr)
        return USAGE
    sys.stdout.write(FORMATTERS[output](report))
    return report.exit_code(strict)


def run_stats(logs: list[str], output_format: str) -> int:
    """Print the readers of each feed counted from `logs`; exit 1 when a log cannot
    be read (the message names it)."""
    from feeds.stats import StatsError
    from feeds.stats import run_stats as report

    try:
        sys.stdout.write(report(logs, output_format))
    except StatsError as error:
        print(f"feeds stats: {error}", file=sys.stderr)
        return 1
    return 0


def _view(name: str) -> Format | Page:
    """A --formats name: a feed format, or a page about the feed."""
    from feeds.feed import Format, Page  # noqa: F811 (imported lazily: starts faster)

    return Page(name) if name in {page.value for page in Page} else Format(name)


def _choices(*allowed: str) -> Callable[[str], tuple[str, ...]]:
    """An argparse type: a comma-separated list of some of `allowed`."""

    def parse(raw: str) -> tuple[str, ...]:
        chosen = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
        wrong = [part for part in chosen if part not in allowed]
        if wrong or not chosen:
            raise argparse.ArgumentTypeError(
                f"{raw!r}: a comma-separated list of {', '.join(allowed)}"
            )
        return chosen

    return parse


def cache_file(content: str, folder: str | None) -> Path:
    """The parse cache of the content folder `content`: one file per content
    folder, in `folder`, else the user's cache folder. Not in the export folder:
    it holds unpublished articles too, and an export folder gets published."""
    if folder is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
        folder = os.path.join(base, "feeds")
    name = hashlib.blake2b(os.path.realpath(content).encode(), digest_size=8).hexdigest()
    return Path(folder) / f"parsed-{name}.pickle"


def run_build(settings: Settings, out: str, *, gzip: bool = False, brotli: bool = False,
              base_url_given: bool = True, force: bool = False, choice: Choice | None = None,
              cache: str | None = None) -> int:  # fmt: skip
    """Export every published document to `out` (or those `choice` selects);
    render only documents whose inputs changed, rewrite only what changed.

    A progress bar on a terminal, one summary line otherwise. Exit 0 when done,
    1 when the export failed (the message names the file and the reason; no
    half-written export is left), 2 when the content folder cannot be read.
    """
    import time
    from datetime import UTC, datetime

    from feeds.export import Choice, ExportError, current_export, export

    logging.disable(logging.WARNING)  # rejected files are counted below; `feeds check` lists them
    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        # No monitor thread: loading and rendering fork worker processes, which is
        # only safe in a process that runs one thread (feeds/workers.py).
        tqdm.monitor_interval = 0
        try:  # a terminal that reports no size (0 x 0) would get no bar at all
            size = os.get_terminal_size(sys.stderr.fileno())
        except OSError:
            size = os.terminal_size((0, 0))
        bar = tqdm(desc=f"loading {settings.content}", file=sys.stderr, leave=False,
                   ncols=size.columns or 80, nrows=size.lines or 24,
                   bar_format="{desc} {elapsed}")  # fmt: skip

    def progress(done: int, total: int) -> None:
        if bar is not None:
            if bar.total != total:
                bar.bar_format = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}]"
                bar.set_description("rendering", refresh=False)
                bar.reset(total=total)
            bar.update(done - bar.n)

    started = time.perf_counter()
    now = datetime.now(UTC)  # one instant for the whole export
    try:
        loader = ContentLoader(settings.content, settings.site_url or None, clock=lambda: now)
        choice = choice or Choice()
        if not force:
            # Nothing changed since the last export (every stat the same): done,
            # without loading anything.
            result = current_export(out, loader.scan_key(fresh=True), settings, now, gzip=gzip,
                                    brotli=brotli, choice=choice)  # fmt: skip
            if result is not None:
                print(result.summary(time.perf_counter() - started))
                return 0
        parse_cache = cache_file(settings.content, cache)
        if not force:
            loader.load_cache(parse_cache)
        snapshot = loader.reload()
        loader.save_cache(parse_cache)
        result = export(snapshot, settings, out, now, gzip=gzip, brotli=brotli, progress=progress,
                        sources=loader.sources(), force=force, choice=choice,
                        scan_key=loader.scan_key())  # fmt: skip
    except ContentError as error:
        print(f"feeds build: {error}", file=sys.stderr)
        return 2
    except ExportError as error:
        print(f"feeds build: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("feeds build: interrupted; the previous export is intact", file=sys.stderr)
        return 130
    finally:
        if bar is not None:
            bar.close()
    for reason in result.skipped:
        print(f"feeds build: skipped {reason}", file=sys.stderr)
    if snapshot.counts.rejected:
        print(f"feeds build: {snapshot.counts.rejected} files rejected and left out; "
              f"`feeds check {settings.content}` says why", file=sys.stderr)  # fmt: skip
    if not base_url_given:
        print(f"feeds build: no --base-url given; links point at {settings.base_url}",
              file=sys.stderr)  # fmt: skip
    print(result.summary(time.perf_counter() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
