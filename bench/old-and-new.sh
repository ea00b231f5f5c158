#!/usr/bin/env bash
# One bench, old and new in one run: runs BENCH (a .java under bench/) in a checkout of REV and in this working tree,
# one after the other, prints both tables, then each run's rows/s side by side with new/old (above 1: the new code is
# faster). For the emulator's engine change (issue 22): the old emulator kept rows on the JVM heap, the new one stores
# them in embedded ClickHouse. Alternate and repeat on a loaded machine: this is one run of each.
#
#   bench/old-and-new.sh REV BENCH [ARGS...]
#   bench/old-and-new.sh 58039c3 bench/tinybird/bench.java --rows 500000 --python-rows 0
#   bench/old-and-new.sh 58039c3 bench/data-transfer/bench.java --rows 200000 --dynamo-rows 0 --per-row-rows 0
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: bench/old-and-new.sh REV BENCH [ARGS...]" >&2; exit 2; }
REV=$1 BENCH=$2; shift 2
SHA=$(git rev-parse --short "$REV")
OLD=$(bench/old-checkout.sh "$REV")
OUT=$(mktemp -d)
echo "== old: $SHA ($(git log -1 --format=%cs "$SHA")) =="
(cd "$OLD" && ./jbang "$BENCH" "$@") | tee "$OUT/old.txt"
echo
echo "== new: working tree at $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with changes)') =="
./jbang "$BENCH" "$@" | tee "$OUT/new.txt"
echo
# rows/s by run name: the column after "seconds" in both benches' tables (name, rows, seconds, rows/s, ...)
rates() { awk '/^[^ ].* [0-9][0-9,]* +[0-9.]+ +[0-9,]+ / { n = $0; sub(/  +[0-9][0-9,]* +[0-9.]+ +[0-9,]+ .*$/, "", n);
  m = $0; sub(/^.*  +[0-9][0-9,]* +[0-9.]+ +/, "", m); split(m, f, " "); gsub(",", "", f[1]); print n "\t" f[1] }' "$1"; }
rates "$OUT/old.txt" > "$OUT/old.tsv"; rates "$OUT/new.txt" > "$OUT/new.tsv"
printf '%-76s %12s %12s %8s\n' "run" "old rows/s" "new rows/s" "new/old"
awk -F'\t' 'NR == FNR { old[$1] = $2; next } ($1 in old) && old[$1] > 0 {
  printf "%-76s %12.0f %12.0f %7.2fx\n", $1, old[$1], $2, $2 / old[$1] }' "$OUT/old.tsv" "$OUT/new.tsv"
echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$OUT"
