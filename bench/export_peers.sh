#!/usr/bin/env bash
# The export benchmark: `feeds build` against Jekyll + jekyll-feed and Hugo, each
# building per-topic feeds of the same articles (bench/bench_export.py says how).
#
# Sets all three up: installs the two peers from Debian when missing (jekyll,
# ruby-jekyll-feed, hugo), the project's .venv when missing, and the 10k scaled
# corpus (bench/scale_corpus.py; a no-op when it is up to date); then runs the
# benchmark. The Markdown table goes to stdout and to bench/out/export.md.
#
#     bash bench/export_peers.sh                 # both corpora, 3 runs of each tool
#     bash bench/export_peers.sh --repeat 5      # options go to bench_export.py
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v jekyll >/dev/null || missing+=(jekyll)
dpkg-query -W -f='${Status}' ruby-jekyll-feed 2>/dev/null | grep -q "ok installed" \
    || missing+=(ruby-jekyll-feed)
command -v hugo >/dev/null || missing+=(hugo)
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi

[ -x .venv/bin/feeds ] || make .venv/.installed
.venv/bin/python bench/scale_corpus.py --count 10000 --out bench/corpora/10k

exec .venv/bin/python bench/bench_export.py "$@"
