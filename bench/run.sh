#!/usr/bin/env bash
# `make bench`: every benchmark in bench/, then ONE table of this service's figures
# beside references measured in the same run (bench/table.py builds it; it goes to
# stdout and to bench/out/summary.md). Each benchmark's own tables and logs go to
# bench/out/run/ (emptied at the start), not over what someone ran by hand.
#
# Sets up what it needs: nginx, wrk and curl (serving), hugo, jekyll and
# ruby-jekyll-feed (export) from Debian with apt-get, only when missing; the
# project's .venv when missing; the 10k and 100k scaled corpora (a no-op when up to
# date). Then, one after the other (never two at once: the machine is small):
#
#   serve   bench_serve.py   wrk -c50 vs nginx on the same bytes: plain, gzip, 304
#   render  bench_render.py  cold 50-item feed per format vs feedgen / json.dumps
#   load    bench_load.py    real, 10k, 100k corpora vs CSafeLoader alone; change→snapshot
#           table.py ref-memory   the CSafeLoader reference's memory
#   export  export_peers.sh  feeds build vs Hugo and Jekyll + jekyll-feed; the same work as
#                            Hugo; feeds build again: nothing changed, one article changed
#   composed bench_composed.py  10k: composed feeds asked uncached, then cached
#   memory  bench_memory.py  10k: a worker's peak RSS under random composed URLs (wrk)
#   carry   bench_carry.py   10k: a round of polls of every feed after one article changed
#
# The feeds/ package is copied at the start (bench/out/run/code/) and put first on
# PYTHONPATH, so every step measures the same code even while feeds/ is being
# edited (bench_serve.py takes its own copy at its start, and says its digest).
# Each step's output goes to bench/out/run/logs/STEP.log; a failed step is reported and
# the others still run; the exit status is 1 if any failed.
#
#     bash bench/run.sh            # the full run (~20 minutes on 2 cores)
#     bash bench/run.sh --quick    # smoke run: short wrk runs, fewer repeats, no 100k
set -euo pipefail

quick=0
for argument in "$@"; do
    case "$argument" in
        --quick) quick=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "run.sh: unknown option $argument (--quick, --help)" >&2
            exit 2
            ;;
    esac
done

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=bench/out
RUN=$OUT/run
PY=.venv/bin/python
REAL=../shared/corpus/powerapps
STARTED=$(date +%s)
CORES=$(nproc)

say() { printf '\n== %s\n' "$*" >&2; }

# ---- Debian packages, only the missing ones ----

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
missing=()
for package in nginx wrk curl hugo jekyll ruby-jekyll-feed; do
    installed "$package" || missing+=("$package")
done
if ((${#missing[@]})); then
    say "installing ${missing[*]} with apt-get"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
        "${missing[@]}"
fi

# ---- the venv, the corpora ----

[ -x .venv/bin/feeds ] || make .venv/.installed
if [ ! -d "$REAL" ]; then
    echo "run.sh: no real corpus at $REAL (the shared corpus checkout)" >&2
    exit 1
fi
say "corpora (bench/scale_corpus.py; nothing to do when up to date)"
$PY bench/scale_corpus.py --count 10000 --out bench/corpora/10k
((quick)) || $PY bench/scale_corpus.py --count 100000 --out bench/corpora/100k

# ---- this run's outputs only: the previous run's are removed ----

rm -rf "$RUN" "$OUT/summary.md"
mkdir -p "$RUN/logs"

# One version of feeds/ for every step.
mkdir -p "$RUN/code"
cp -r feeds "$RUN/code/feeds"
find "$RUN/code" -name __pycache__ -prune -exec rm -rf {} +
export PYTHONPATH="$ROOT/$RUN/code"
where=$($PY -P -c 'import feeds; print(feeds.__file__)')
case "$where" in
    "$ROOT/$RUN/code/"*) ;;
    *)
        echo "run.sh: the copy of feeds/ is not the one imported ($where)" >&2
        exit 1
        ;;
esac

# ---- the machine ----

digest=$($PY - "$RUN/code" <<'EOF'
import hashlib, sys
from pathlib import Path
code = Path(sys.argv[1])
digest = hashlib.blake2b(digest_size=6)  # as bench_serve.py's code_version()
for path in sorted(code.rglob("*.py")):
    digest.update(str(path.relative_to(code)).encode() + b"\0" + path.read_bytes())
print(digest.hexdigest())
EOF
)
revision=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
if [ -n "$(git status --porcelain -- feeds 2>/dev/null)" ]; then
    revision="$revision + uncommitted changes in feeds/"
fi
cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
memory=$(free -h | awk '/^Mem:/ {print $2}')
{
    echo "Machine: $CORES cores ($cpu), $memory memory, $(uname -sr);" \
        "$($PY --version), $(. /etc/os-release && echo "$PRETTY_NAME")."
    echo "Code: git $revision; feeds/*.py digest $digest (copied at the start: $RUN/code)."
    echo "Tools: $(/usr/sbin/nginx -v 2>&1 | sed 's/nginx version: //'), wrk" \
        "$(dpkg-query -W -f='${Version}' wrk), Hugo $(dpkg-query -W -f='${Version}' hugo)," \
        "Jekyll $(dpkg-query -W -f='${Version}' jekyll) + jekyll-feed" \
        "$(dpkg-query -W -f='${Version}' ruby-jekyll-feed)."
    echo "Command: \`$( ((quick)) && echo 'bash bench/run.sh --quick' || echo 'make bench')\`;" \
        "started $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)."
} >"$RUN/facts.md"
cat "$RUN/facts.md"

# ---- the benchmarks ----

failed=()
# step NAME COMMAND...: run it, its output to bench/out/run/logs/NAME.log (and the last
# lines on failure); one line to steps.tsv either way.
step() {
    local name=$1 started status=ok
    shift
    say "$name: $*"
    started=$(date +%s)
    if ! "$@" >"$RUN/logs/$name.log" 2>&1; then
        status=failed
        failed+=("$name")
        echo "-- $name failed; the end of $RUN/logs/$name.log:" >&2
        tail -n 25 "$RUN/logs/$name.log" >&2
    fi
    printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$(($(date +%s) - started))" "${note:-}" \
        >>"$RUN/steps.tsv"
    note=""
    echo "   $status in $(($(date +%s) - started)) s" >&2
}
note=""

# bench_load.py prints its table on stdout only: keep it. (`|| return`: set -e does
# not apply inside a function called from `if`.)
load_table() {
    local table=$1
    shift
    $PY bench/bench_load.py "$@" >"$RUN/$table.partial" || return 1
    mv "$RUN/$table.partial" "$RUN/$table" && cat "$RUN/$table"
}

if ((quick)); then
    step serve $PY bench/bench_serve.py --content bench/corpora/10k --workers "$CORES" \
        --duration 3 --warmup 1 --rounds 1 --no-log-off --out "$RUN/serve.md"
    step render $PY bench/bench_render.py --repeat 5 --out "$RUN/render.md"
    note="quick: real and 10k, best of 1, 2 changes; no 100k"
    step load load_table load.md --content "$REAL" --content bench/corpora/10k --repeat 1 --changes 2
    step load-memory $PY bench/table.py ref-memory --out "$RUN" "$REAL" bench/corpora/10k
else
    # Access log on only, as deployed (the table's serving rows); the "log off" runs
    # would double the step's time.
    step serve $PY bench/bench_serve.py --content bench/corpora/10k --workers "$CORES" \
        --duration 10 --warmup 3 --rounds 3 --no-log-off --out "$RUN/serve.md"
    step render $PY bench/bench_render.py --repeat 30 --out "$RUN/render.md"
    # Change → served feed: median of 10 changes (the targets: 10k ≤ 0.1 s, 100k ≤ 0.3 s).
    step load load_table load.md --content "$REAL" --content bench/corpora/10k --repeat 3 \
        --changes 10
    note="100k: one run of each (--repeat 1)"
    step load-100k load_table load-100k.md --content bench/corpora/100k --repeat 1 --changes 10
    step load-memory $PY bench/table.py ref-memory --out "$RUN" \
        "$REAL" bench/corpora/10k bench/corpora/100k
fi

# The export benchmark may still be in the making: run it only when it can run.
if [ -f bench/export_peers.sh ] && [ -f bench/bench_export.py ] \
    && $PY bench/bench_export.py --help >/dev/null 2>&1; then
    if ((quick)); then
        note="quick: real corpus only, one run"
        step export bash bench/export_peers.sh --corpus "powerapps=$REAL" --repeat 1 \
            --out "$RUN/export.md"
    else
        # Jekyll takes minutes on 10k: one run of each tool.
        note="one run of each tool"
        step export bash bench/export_peers.sh --repeat 1 --out "$RUN/export.md"
    fi
else
    printf 'export\tskipped\t0\t%s\n' \
        "bench/export_peers.sh or bench/bench_export.py missing or not runnable" \
        >>"$RUN/steps.tsv"
    say "export: skipped (bench/export_peers.sh or bench/bench_export.py not runnable)"
fi

# Composed feeds: latency uncached and cached, and a worker's memory under them.
if ((quick)); then
    step composed $PY bench/bench_composed.py --content bench/corpora/10k --queries 100 \
        --out "$RUN/composed.json"
    step memory $PY bench/bench_memory.py --content bench/corpora/10k --workers "$CORES" \
        --duration 10 --out "$RUN/memory.json"
else
    step composed $PY bench/bench_composed.py --content bench/corpora/10k --queries 500 \
        --out "$RUN/composed.json"
    step memory $PY bench/bench_memory.py --content bench/corpora/10k --workers "$CORES" \
        --duration 90 --out "$RUN/memory.json"
fi
step carry $PY bench/bench_carry.py --content bench/corpora/10k \
    --repeat "$( ((quick)) && echo 1 || echo 3)" --out "$RUN/carry.json"

# ---- the table ----

say "summary ($(($(date +%s) - STARTED)) s in all)"
echo
$PY bench/table.py --out "$RUN" --summary "$OUT/summary.md" --since "$STARTED" || failed+=(table)
echo
echo "Written to $OUT/summary.md; each benchmark's own table and log are in $RUN/." >&2
if ((${#failed[@]})); then
    echo "run.sh: failed: ${failed[*]} (see $RUN/logs/)" >&2
    exit 1
fi
