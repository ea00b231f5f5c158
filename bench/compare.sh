#!/usr/bin/env bash
# Old against new in one run: times one shell command in a checkout of REV and in this working tree, alternately,
# RUNS times each (default 5), and prints both medians and the ratio (old time / new time: above 1 the new code is
# faster). For the "no slower than today's main" checks of the issues; the figures go to bench/README.md.
#
#   bench/compare.sh [-n RUNS] REV 'COMMAND'
#   bench/compare.sh main~3 './jbang data-generators/e-store.java --count 1000000 --seed 1 --out /dev/null -q'
#
# COMMAND runs with bash -c in the checkout's root (the old one in $TMPDIR/py-utilities-compare/REV, from git archive,
# with bench/data shared, so ./jbang and relative paths work on both sides); BENCH_SIDE is old or new. Each side runs once untimed first
# (JBang compiles the script and caches its command line). Whole commands are timed, JVM start included.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=5
if [ "${1:-}" = "-n" ]; then RUNS=$2; shift 2; fi
[ $# -eq 2 ] || { echo "usage: bench/compare.sh [-n RUNS] REV 'COMMAND'" >&2; exit 2; }
REV=$1 CMD=$2
NEW=$PWD
SHA=$(git rev-parse --short "$REV")
OLD=$(bench/old-checkout.sh "$REV")

run() { # $1 = side, $2 = folder; prints seconds
  local t0 t1
  t0=$(date +%s%N)
  (cd "$2" && BENCH_SIDE=$1 bash -c "$CMD") >/dev/null 2>"$OLD.last-$1.err" \
    || { echo "compare: the $1 side failed:" >&2; cat "$OLD.last-$1.err" >&2; exit 1; }
  t1=$(date +%s%N)
  echo "scale=3; ($t1 - $t0) / 1000000000" | bc
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "compare: $CMD" >&2
echo "compare: old = $SHA ($(git log -1 --format=%cs "$SHA")), new = working tree at $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with changes)'), $RUNS runs each, alternating" >&2
run old "$OLD" >/dev/null
run new "$NEW" >/dev/null
olds=() news=()
for ((i = 1; i <= RUNS; i++)); do
  o=$(run old "$OLD"); n=$(run new "$NEW")
  olds+=("$o"); news+=("$n")
  echo "run $i: old ${o}s new ${n}s" >&2
done
mo=$(printf '%s\n' "${olds[@]}" | median)
mn=$(printf '%s\n' "${news[@]}" | median)
ratio=$(printf "%.2f" "$(echo "scale=4; $mo / $mn" | bc)")
echo "median: old ${mo}s, new ${mn}s; old/new ${ratio}x (above 1: the new code is faster)"
