"""Scale the real article corpus up to N articles, for load benchmarks.

Why: the real corpus has ~1,450 articles; the live sites reach tens of
thousands. Synthetic articles would miss what makes real ones slow or odd
(long excerpts, `secured` blobs, HTML newsletters, `related` lists, missing
dates, `published: false`), so this copies real files and changes only what
must differ between copies:

- `webUrl` / `originalUrl` (top level) get a `copy=K` query parameter, K being
  the copy round: every copy is a distinct story with its own id, while two
  source files that share a URL (the same story filed twice) still do in each
  round, so the duplicate mix is kept;
- `publishedDateTime` (top level) moves to a seeded random instant in the
  `--years` before `--until`; the format (quotes, time, zone) is kept, and files
  without a date stay without one, so the undated mix is kept too;
- the file name gets a unique `-cI` suffix (I: the copy index), and a Jekyll
  `YYYY-MM-DD-` prefix moves to the new date.

Everything else (`secured`, `images`, `related`, `published`, bodies) is kept
byte for byte. Files keep the source's subfolders (`_news/`,
`_learning/videos/`...); the `_data/` taxonomies of every source are merged
and copied once, as is the first `_config.yml` found.

Output is deterministic: the same parameters give identical bytes. The
substitution is plain text on the front matter (no YAML round trip, which
would be slow and would normalise the very formatting the loader must cope
with), and every file is written once, so 100k files take seconds. A stamp
file records the parameters; a second run with the same ones does nothing.
The corpus is built in `<out>.partial` and renamed into place when complete,
so an interrupted run never leaves a half corpus that looks finished.

    .venv/bin/python bench/scale_corpus.py --count 10000 --out bench/corpora/10k
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCES = ("../shared/corpus/powerapps", "../shared/corpus/ai-sample")
ARTICLE_SUFFIXES = (".md", ".markdown", ".html")  # as feeds.parse.ARTICLE_SUFFIXES
TAXONOMY_DIR = "_data"
CONFIG_FILE = "_config.yml"
STAMP_FILE = ".bench-corpus.json"  # a dot file: the loader never reads it
GENERATOR_VERSION = 1  # bump when the output for the same parameters changes

_FRONT_MATTER_END = re.compile(r"^(?:---|\.\.\.)[ \t]*\r?$", re.M)
# A top-level URL field: the value, optionally quoted, up to the line end.
_URL_LINE = re.compile(
    r"""^(?:webUrl|originalUrl):[ \t]*(?P<quote>["']?)(?P<url>[^\s"'#]+)""", re.M
)
# A top-level date: YYYY-MM-DD, optionally followed by a time (the zone is kept as it is).
_DATE_LINE = re.compile(
    r"""^publishedDateTime:[ \t]*["']?(?P<date>\d{4}-\d{2}-\d{2})"""
    r"""(?:(?P<sep>[Tt ])(?P<time>\d{2}:\d{2}:\d{2}))?""",
    re.M,
)
_JEKYLL_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}-")


# ---- templates: one per source article, with the places a copy changes ----


@dataclass(frozen=True)
class UrlSlot:
    """Where a URL ends: the copy marker goes there (`?copy=K` or `&copy=K`)."""

    position: int
    separator: str


@dataclass(frozen=True)
class DateSlot:
    """The span of a date (and time, if any) to replace with the copy's instant."""

    start: int
    end: int
    time_separator: str | None  # None: a date without a time


@dataclass(frozen=True)
class Template:
    folder: str  # '/'-separated folder relative to the corpus root ('' at the top)
    stem: str  # file name without the suffix and without a Jekyll date prefix
    suffix: str
    dated_name: bool  # the name had a YYYY-MM-DD- prefix
    text: str
    slots: tuple[UrlSlot | DateSlot, ...]  # sorted by position


def find_article_files(source: Path) -> list[Path]:
    """Article files under `source` as the loader sees them: no dot files, no `_data/`."""
    found = []
    for folder, dirs, files in os.walk(source):
        rel = Path(folder).relative_to(source)
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and not (rel == Path(".") and d == TAXONOMY_DIR)
        )
        found.extend(
            Path(folder, name)
            for name in sorted(files)
            if not name.startswith(".") and name.lower().endswith(ARTICLE_SUFFIXES)
        )
    return found


def make_template(source: Path, path: Path) -> Template:
    """Read one article and record where its copies differ from it."""
    # surrogateescape: any byte survives the round trip, even in a file that is not UTF-8.
    text = path.read_bytes().decode("utf-8", "surrogateescape")
    front_end = 0
    if text.startswith("---"):
        first_line_end = text.find("\n") + 1
        end = _FRONT_MATTER_END.search(text, first_line_end) if first_line_end else None
        front_end = end.start() if end else 0
    slots: list[UrlSlot | DateSlot] = []
    for match in _URL_LINE.finditer(text, 0, front_end):
        url = match["url"]
        slots.append(UrlSlot(match.end("url"), "&" if "?" in url else "?"))
    for match in _DATE_LINE.finditer(text, 0, front_end):
        end = match.end("time") if match["time"] else match.end("date")
        slots.append(DateSlot(match.start("date"), end, match["sep"] if match["time"] else None))
    slots.sort(key=lambda slot: slot.position if isinstance(slot, UrlSlot) else slot.start)

    rel = path.relative_to(source)
    name = rel.name
    suffix = rel.suffix
    stem = name[: len(name) - len(suffix)]
    dated_name = bool(_JEKYLL_PREFIX.match(stem))
    if dated_name:
        stem = stem[len("YYYY-MM-DD-") :]
    folder = rel.parent.as_posix()
    return Template(
        folder="" if folder == "." else folder,
        stem=stem,
        suffix=suffix,
        dated_name=dated_name,
        text=text,
        slots=tuple(slots),
    )


def render_copy(template: Template, copy_round: int, instant: datetime) -> bytes:
    """The template's text with its URLs marked for `copy_round` and its date set to `instant`."""
    pieces: list[str] = []
    cursor = 0
    text = template.text
    for slot in template.slots:
        if isinstance(slot, UrlSlot):
            pieces.append(text[cursor : slot.position])
            pieces.append(f"{slot.separator}copy={copy_round}")
            cursor = slot.position
        else:
            pieces.append(text[cursor : slot.start])
            pieces.append(instant.strftime("%Y-%m-%d"))
            if slot.time_separator is not None:
                pieces.append(slot.time_separator + instant.strftime("%H:%M:%S"))
            cursor = slot.end
    pieces.append(text[cursor:])
    return "".join(pieces).encode("utf-8", "surrogateescape")


def copy_name(template: Template, index: int, instant: datetime) -> str:
    prefix = instant.strftime("%Y-%m-%d-") if template.dated_name else ""
    return f"{prefix}{template.stem}-c{index}{template.suffix}"


# ---- the corpus ----


def corpus_parameters(
    args: argparse.Namespace, sources: list[Path], templates: list[Template]
) -> dict:
    """What the output depends on; equal parameters mean equal bytes."""
    digest = hashlib.blake2b(digest_size=16)
    for template in templates:
        digest.update(f"{template.folder}/{template.stem}{template.suffix}\0".encode())
        digest.update(template.text.encode("utf-8", "surrogateescape"))
    for source in sources:
        for path in taxonomy_files(source):
            digest.update(path.relative_to(source).as_posix().encode() + b"\0" + path.read_bytes())
    return {
        "generator": GENERATOR_VERSION,
        "count": args.count,
        "seed": args.seed,
        "until": args.until.isoformat(),
        "years": args.years,
        "sources": [str(source) for source in sources],
        "source_files": len(templates),
        "source_digest": digest.hexdigest(),
    }


def taxonomy_files(source: Path) -> list[Path]:
    """The `_data/` files and `_config.yml` of one source."""
    files = sorted(p for p in (source / TAXONOMY_DIR).rglob("*") if p.is_file())
    if (source / CONFIG_FILE).is_file():
        files.append(source / CONFIG_FILE)
    return files


def copy_taxonomies(sources: list[Path], out: Path) -> int:
    """Merge every source's `_data/` into `out/_data/` (the first source wins a clash)
    and copy the first `_config.yml`: once, not per article."""
    copied = 0
    for source in sources:
        for path in taxonomy_files(source):
            target = out / path.relative_to(source)
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            copied += 1
    return copied


def write_articles(
    templates: list[Template], out: Path, count: int, seed: int, until: datetime, years: float
) -> None:
    """Write `count` copies in one pass. Templates are dealt in a seeded order,
    round after round, so any count keeps the source's mix of folders and kinds."""
    rng = random.Random(seed)
    order = list(range(len(templates)))
    rng.shuffle(order)
    span_seconds = int(years * 365.25 * 86400)
    for folder in {template.folder for template in templates}:
        (out / folder).mkdir(parents=True, exist_ok=True)
    for index in range(count):
        copy_round, position = divmod(index, len(templates))
        template = templates[order[position]]
        instant = until - timedelta(seconds=rng.randrange(span_seconds))
        name = copy_name(template, index, instant)
        path = os.path.join(out, template.folder, name)
        with open(path, "xb") as handle:  # "x": a name clash is a bug, not an overwrite
            handle.write(render_copy(template, copy_round, instant))


def read_stamp(out: Path) -> dict | None:
    try:
        return json.loads((out / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def build_corpus(args: argparse.Namespace) -> Path:
    sources = [resolve(source) for source in args.source or DEFAULT_SOURCES]
    for source in sources:
        if not source.is_dir():
            sys.exit(f"scale_corpus: source {source} is not a folder")
    out = resolve(args.out or f"bench/corpora/{humanize_count(args.count)}")

    templates = [
        make_template(source, path) for source in sources for path in find_article_files(source)
    ]
    if not templates:
        sys.exit("scale_corpus: no article files in the sources")
    parameters = corpus_parameters(args, sources, templates)

    existing = read_stamp(out)
    if existing == parameters and not args.force:
        print(f"{out}: up to date ({args.count} articles), nothing to do")
        return out
    if out.exists() and existing is None and any(out.iterdir()):
        sys.exit(
            f"scale_corpus: {out} exists, is not empty and has no {STAMP_FILE}: not touching it"
        )

    started = time.perf_counter()
    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)  # our own leftover from an interrupted run
    partial.mkdir(parents=True)
    taxonomy_count = copy_taxonomies(sources, partial)
    write_articles(templates, partial, args.count, args.seed, args.until, args.years)
    (partial / STAMP_FILE).write_text(json.dumps(parameters, indent=2) + "\n", encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    elapsed = time.perf_counter() - started
    print(
        f"{out}: {args.count} articles from {len(templates)} source files "
        f"(+{taxonomy_count} taxonomy files) in {elapsed:.1f} s"
    )
    return out


def resolve(path: str | Path) -> Path:
    """Relative paths are relative to the repository root, wherever this runs from."""
    path = Path(path)
    return (path if path.is_absolute() else REPO_ROOT / path).resolve()


def humanize_count(count: int) -> str:
    return f"{count // 1000}k" if count % 1000 == 0 else str(count)


def parse_until(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source",
        action="append",
        metavar="DIR",
        help="source corpus folder (repeatable; default: " + ", ".join(DEFAULT_SOURCES) + ")",
    )
    parser.add_argument(
        "--count", type=int, default=10_000, help="articles to write (default 10000)"
    )
    parser.add_argument(
        "--out", metavar="DIR", help="output folder (default bench/corpora/<count>)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed for order and dates (default 1)")
    parser.add_argument(
        "--until",
        type=parse_until,
        default=parse_until("2024-04-12T00:00:00Z"),
        help="newest possible date (default 2024-04-12, the snapshot's date)",
    )
    parser.add_argument(
        "--years",
        type=float,
        default=5.0,
        help="dates spread over this many years before --until (default 5)",
    )
    parser.add_argument("--force", action="store_true", help="regenerate even if the stamp matches")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    build_corpus(args)


if __name__ == "__main__":
    main()
