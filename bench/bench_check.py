"""How long `feeds check` takes for a pre-commit hook's few named files, beside a
check of the whole folder (the reference) and a bare start of the command.

Each is a real process, as a hook runs it; best of --repeat runs, after one
warm-up run of each (file-system cache warm, as on a developer's machine).
Two files are named: one whose URL another file in the folder also gives (its
duplicate must still be found) and one whose URL no other file gives.

    .venv/bin/python bench/scale_corpus.py --count 100000 --out bench/corpora/100k
    .venv/bin/python bench/bench_check.py --content bench/corpora/100k
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def timed(command: list[str], repeat: int) -> tuple[float, subprocess.CompletedProcess[str]]:
    best, result = float("inf"), None
    for _ in range(repeat + 1):  # the first run only warms the cache
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
        elapsed = time.perf_counter() - started
        if result.returncode not in (0, 1):
            sys.exit(f"{' '.join(command)}: exit {result.returncode}\n{result.stderr}")
        best = min(best, elapsed)
    assert result is not None
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", default="bench/corpora/100k")
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    content = str((REPO_ROOT / arguments.content).resolve())
    check = [sys.executable, "-m", "feeds.cli", "check", "--format", "json"]

    whole_time, whole = timed([*check, content], arguments.repeat)
    report = json.loads(whole.stdout)
    duplicate = next(p["path"] for p in report["problems"] if p["kind"] == "duplicate")
    flagged = {p["path"] for p in report["problems"]}
    plain = next(
        str(path.relative_to(content))
        for path in sorted(Path(content).glob("_news/*.md"))
        if str(path.relative_to(content)) not in flagged
    )
    named = [f"{content}/{duplicate}", f"{content}/{plain}"]
    named_time, partial = timed([*check, "--content", content, *named], arguments.repeat)
    found = [(p["path"], p["kind"]) for p in json.loads(partial.stdout)["problems"]]
    assert (duplicate, "duplicate") in found, f"the duplicate was not found: {found}"
    start_time, _ = timed([sys.executable, "-c", "import feeds.cli"], arguments.repeat)
    # The floor for any check that looks into every file: GNU grep reading them all.
    grep = ["grep", "-rlFi", "--include=*.md", "--include=*.html", "--include=*.markdown"]
    grep_time, _ = timed([*grep, "-e", "/no/such/url", content], arguments.repeat)

    files = report["summary"]["files"]
    print(f"| `feeds check` on {arguments.content} ({files} files) | seconds | vs whole folder |")
    print("|---|---|---|")
    rows = [
        ("whole folder (reference)", whole_time),
        ("2 named files", named_time),
        ("start only (`import feeds.cli`)", start_time),
        ("`grep -rlFi` of one string in every file", grep_time),
    ]
    for label, seconds in rows:
        print(f"| {label} | {seconds:.2f} | {seconds / whole_time:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
