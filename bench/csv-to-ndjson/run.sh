#!/usr/bin/env bash
# Benchmark of converter/csv-to-ndjson.java against its peers, in one run, on the same generated CSV.
#
#   bench/csv-to-ndjson/run.sh [ROWS...]        default: 1000000 10000000 (about 100 MB and 1 GB)
#
# Data: bench/data/csv-bench-ROWS.csv, written by CsvBenchData.java (seeded: the same bytes every time), 11 mixed
# columns. Outputs go to bench/out/csv-to-ndjson/ (both folders are git-ignored). Warm cache, whole process timed
# (JVM or interpreter start included), peak RSS from /usr/bin/time. SKIP="miller python" leaves peers out.
# Each tool runs REPEAT times (default 3; one that takes over 10 s runs once) and the median run is reported.
# Peers: DuckDB (npm @duckdb/node-api, pinned in package.json), Miller (mlr, Debian package), Python csv.DictReader.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=bench/csv-to-ndjson
DATA=bench/data
OUT=bench/out/csv-to-ndjson
mkdir -p "$DATA" "$OUT"
ROWS=("$@")
[ ${#ROWS[@]} -gt 0 ] || ROWS=(1000000 10000000)
SKIP=${SKIP:-}
# OLD=REV adds a row for an older commit's converter (./jbang, a checkout made by bench/old-checkout.sh)
OLD=${OLD:-}; OLD_DIR=""
if [ -n "$OLD" ]; then OLD_DIR=$(bench/old-checkout.sh "$OLD"); (cd "$OLD_DIR" && ./jbang build converter/csv-to-ndjson.java >/dev/null 2>&1); fi
REPEAT=${REPEAT:-3}

need_pkgs=()
command -v mlr >/dev/null 2>&1 || need_pkgs+=(miller)
[ -x /usr/bin/time ] || need_pkgs+=(time)
command -v node >/dev/null 2>&1 || need_pkgs+=(nodejs npm)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
[ -d "$HERE/node_modules/@duckdb/node-api" ] || (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)

# The same JDK the launcher picks, and the script's jar with its dependencies (for the plain-JVM row).
./jbang build converter/csv-to-ndjson.java >/dev/null 2>&1
./jbang build "$HERE/CommonsCsvProbe.java" >/dev/null 2>&1
CP=$(./jbang info classpath converter/csv-to-ndjson.java 2>/dev/null)
PROBE_CP=$(./jbang info classpath "$HERE/CommonsCsvProbe.java" 2>/dev/null)
JAVA=java
for j in "${JAVA_HOME:-}" $(ls -d /usr/lib/jvm/*/ 2>/dev/null | sort -rV); do
  [ -n "$j" ] && [ -x "$j/bin/java" ] || continue
  v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$j/release" 2>/dev/null | head -n 1)
  if [ -n "$v" ] && [ "$v" -ge 21 ]; then JAVA="$j/bin/java"; break; fi
done
JOPTS=$(sed -n 's#^//JAVA_OPTIONS ##p' converter/csv-to-ndjson.java)

skipped() { case " $SKIP " in *" $1 "*) return 0 ;; esac; return 1; }

# Before each run: earlier outputs flushed to disk, so no run pays for the writeback of another's output.
settle() {
  sync
}

# run NAME OUTFILE CMD...: times CMD (its stdout goes to OUTFILE), prints one row
run() {
  local name=$1 outfile=$2; shift 2
  rm -f "$outfile"
  local tf; tf=$(mktemp)
  # REPEAT runs (default 3; a tool slower than 10 s runs once); the median by wall time is reported
  local i runs=()
  for ((i = 0; i < REPEAT; i++)); do
    rm -f "$outfile"; settle
    if ! /usr/bin/time -f "%e %M %U %S" -o "$tf" "$@" > "${outfile}.stdout" 2> "$OUT/last.err"; then
      echo "  $name failed: $(tail -n 3 "$OUT/last.err")"; rm -f "$tf"; return
    fi
    [ -s "${outfile}.stdout" ] && mv "${outfile}.stdout" "$outfile" || rm -f "${outfile}.stdout"
    runs+=("$(tail -n 1 "$tf")")
    awk -v s="${runs[-1]%% *}" 'BEGIN { exit !(s > 10) }' && break
  done
  rm -f "$tf"
  read -r secs kb us ss < <(printf '%s\n' "${runs[@]}" | sort -n | sed -n "$(( (${#runs[@]} + 1) / 2 ))p")
  local lines; lines=$(wc -l < "$outfile")
  rm -f "$outfile" # the next tool starts with no earlier output in the page cache
  RESULTS+=("$name|$secs|$kb|$lines|$(awk -v u="$us" -v s="$ss" 'BEGIN{print u+s}')")
}

for rows in "${ROWS[@]}"; do
  f="$DATA/csv-bench-$rows.csv"
  [ -f "$f" ] || ./jbang "$HERE/CsvBenchData.java" "$rows" "$f"
  size=$(stat -c %s "$f")
  cat "$f" > /dev/null # warm cache
  RESULTS=()
  echo
  echo "== $rows rows, $(awk -v s="$size" 'BEGIN{printf "%.1f MB", s/1e6}') (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  run "csv-to-ndjson (./jbang)" "$OUT/ours.ndjson" ./jbang converter/csv-to-ndjson.java "$f" -o "$OUT/ours.ndjson" --force -q
  run "csv-to-ndjson (java -cp)" "$OUT/ours-java.ndjson" "$JAVA" $JOPTS -cp "$CP" CsvToNdjson "$f" -o "$OUT/ours-java.ndjson" --force -q
  [ -z "$OLD_DIR" ] || run "csv-to-ndjson $OLD (./jbang)" "$OUT/old.ndjson" \
    bash -c 'cd "$1" && ./jbang converter/csv-to-ndjson.java "$2" -o "$3" --force -q' _ "$OLD_DIR" "$PWD/$f" "$PWD/$OUT/old.ndjson"
  skipped commons || run "commons-csv probe (java -cp)" "$OUT/commons.ndjson" "$JAVA" -XX:+UseSerialGC -Xmx192m -cp "$PROBE_CP" CommonsCsvProbe "$f" "$OUT/commons.ndjson"
  skipped duckdb || run "DuckDB (@duckdb/node-api)" "$OUT/duckdb.ndjson" node "$HERE/duckdb.mjs" "$f" "$OUT/duckdb.ndjson"
  skipped miller || run "Miller (mlr --icsv --ojsonl)" "$OUT/miller.ndjson" mlr --icsv --ojsonl cat "$f"
  skipped python || run "Python csv.DictReader+json" "$OUT/python.ndjson" python3 "$HERE/naive.py" "$f" "$OUT/python.ndjson"

  base=$(echo "${RESULTS[1]}" | cut -d'|' -f2)
  printf "%-30s %9s %9s %10s %8s %12s %9s\n" tool seconds "MB/s" "peak RSS" "CPU s" "lines out" "vs ours"
  for r in "${RESULTS[@]}"; do
    IFS='|' read -r name secs kb lines cpu <<< "$r"
    awk -v n="$name" -v s="$secs" -v kb="$kb" -v size="$size" -v l="$lines" -v b="$base" -v c="$cpu" \
      'BEGIN{printf "%-30s %9.2f %9.1f %7.0f MB %8.2f %12d %8.2fx\n", n, s, size/1e6/s, kb/1024, c, l, s/b}'
  done
  echo "(median of $REPEAT runs, tools over 10 s ran once; vs ours: the tool's time / csv-to-ndjson (java -cp)'s; above 1 = slower than ours)"
  if [ -n "$OLD_DIR" ]; then
    awk -v n="$(echo "${RESULTS[0]}" | cut -d'|' -f2)" -v o="$(echo "${RESULTS[2]}" | cut -d'|' -f2)" -v r="$OLD" \
      'BEGIN{printf "today against %s, both through ./jbang: %.2fx its speed (old time / new time)\n", r, o/n}'
  fi
  rm -f "$OUT"/*.ndjson
done
