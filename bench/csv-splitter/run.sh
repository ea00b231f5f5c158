#!/usr/bin/env bash
# bench/csv-splitter: large-files/csv-splitter.java against its peers, in one run, on one generated CSV.
#
#   bench/csv-splitter/run.sh            # ~1.1 GB, 10,000,000 records, 100 MB parts (the issue's case)
#   RECORDS=1000000 bench/csv-splitter/run.sh   # ~110 MB, quicker
#   REPEAT=1 bench/csv-splitter/run.sh          # one run a tool (default: the median of 3; >10 s tools run once)
#
# Data: bench/csv-splitter/GenCsv.java (deterministic: mixed quoting, doubled quotes, 5 % multi-line fields),
# written once to bench/data/ (git-ignored). Warm cache: the file is read once before the tools run.
# Every tool runs as a whole process (JVM start included), timed with /usr/bin/time (wall seconds, peak RSS).
# Peers: GNU split -C / -l (line-based: cut multi-line records, no header in parts), DuckDB COPY with
# FILE_SIZE_BYTES (@duckdb/node-api, installed here from package-lock.json), Miller split -n, and a Python
# csv.reader/csv.writer splitter like the original. Then each result is checked: parts, biggest part, header in
# every part, every part quote-balanced (no record cut), and the parts without their headers == the input.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
RECORDS=${RECORDS:-10000000}
MAX=${MAX:-100000000}
REPEAT=${REPEAT:-3}
DATA=$ROOT/bench/data/csv-splitter-$RECORDS.csv
OUT=${OUT:-$ROOT/bench/out/csv-splitter}
J="./jbang"

need() { command -v "$1" >/dev/null 2>&1 || { echo "bench: $1 is missing ($2)" >&2; exit 1; }; }
need split coreutils; need node "apt-get install nodejs"; need mlr "apt-get install miller"; need python3 python3
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
[ -d bench/csv-splitter/node_modules/@duckdb/node-api ] || (cd bench/csv-splitter && npm ci --no-audit --no-fund --loglevel=error)

mkdir -p "$ROOT/bench/data"
if [ ! -s "$DATA" ]; then
  echo "generating $DATA ($RECORDS records)..." >&2
  $J bench/csv-splitter/GenCsv.java "$DATA.tmp" "$RECORDS" && mv "$DATA.tmp" "$DATA"
fi
SIZE=$(stat -c %s "$DATA")
LINES=$(wc -l < "$DATA")
HEADER=$(head -n 1 "$DATA")
IN_SHA=$(sha256sum < "$DATA" | cut -d' ' -f1)
cat "$DATA" > /dev/null # warm cache
# the splitter's classpath, for the run without the JBang launcher (java straight away)
$J build large-files/csv-splitter.java >/dev/null 2>&1
CP=$($J info classpath large-files/csv-splitter.java 2>/dev/null | tail -n 1)
JAVA=$(sed -n 's/^JAVA_HOME=//p' /dev/null); JAVA=${JAVA_HOME:-$(ls -d /usr/lib/jvm/temurin-2[5-9]* /usr/lib/jvm/*2[1-9]* 2>/dev/null | head -n 1)}/bin/java
ROWS_PER_PART=$(( RECORDS * MAX / SIZE ))             # Miller: records per part for ~MAX-byte parts
LINES_PER_PART=$(( LINES * MAX / SIZE ))              # split -l: lines per part for ~MAX-byte parts

printf 'input: %s, %s bytes, %s records, %s lines; parts of at most %s bytes\n' "$DATA" "$SIZE" "$RECORDS" "$LINES" "$MAX"
printf 'machine: %s cores, load %s\n\n' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"

# Before each run: earlier outputs flushed to disk, so no run pays for the writeback of another's output.
settle() {
  sync
}

results=()
run() { # name header(yes/no) verbatim-check(yes/no) cmd...
  local name=$1 hashdr=$2; shift 2
  local dir=$OUT/$(echo "$name" | tr -c 'a-zA-Z0-9\n' '_')
  rm -rf "$dir"; mkdir -p "$dir"
  local cmd=("${@//@DIR@/$dir}")
  echo "running: $name" >&2
  # REPEAT runs (default 3; a tool slower than 10 s runs once), the median by wall time is reported
  local i runs=()
  for ((i = 0; i < REPEAT; i++)); do
    rm -rf "$dir"; mkdir -p "$dir"; settle
    /usr/bin/time -f '%e %M %U %S' -o "$OUT/time.txt" "${cmd[@]}" > "$OUT/stdout.txt" 2> "$OUT/stderr.txt" || {
      echo "bench: $name failed:" >&2; tail -n 5 "$OUT/stderr.txt" >&2; results+=("$name|failed|||||||"); return; }
    runs+=("$(tail -n 1 "$OUT/time.txt")")
    awk -v s="${runs[-1]%% *}" 'BEGIN { exit !(s > 10) }' && break
  done
  read -r secs rss usr sys < <(printf '%s\n' "${runs[@]}" | sort -n | sed -n "$(( (${#runs[@]} + 1) / 2 ))p")
  local cpu; cpu=$(awk -v u="$usr" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
  # the checks
  mapfile -t parts < <(find "$dir" -type f | sort -V)
  local n=${#parts[@]} max=0 hdr=yes bal=yes
  for p in "${parts[@]}"; do
    s=$(stat -c %s "$p"); [ "$s" -gt "$max" ] && max=$s
    [ "$(head -n 1 "$p" | tr -d '\r')" = "$HEADER" ] || hdr=no
    q=$(tr -cd '"' < "$p" | wc -c); [ $((q % 2)) -eq 0 ] || bal=no
  done
  local verb
  if [ "$hashdr" = yes ]; then
    verb=$({ cat "${parts[0]}"; for p in "${parts[@]:1}"; do tail -n +2 "$p"; done; } | sha256sum | cut -d' ' -f1)
  else
    verb=$(cat "${parts[@]}" | sha256sum | cut -d' ' -f1)
  fi
  [ "$verb" = "$IN_SHA" ] && verb=yes || verb=no
  results+=("$name|$secs|$cpu|$rss|$n|$max|$hdr|$bal|$verb")
  rm -rf "$dir"
}

run "csv-splitter (./jbang)"  yes $J large-files/csv-splitter.java -q "$DATA" --max-size "$MAX" -o @DIR@
run "csv-splitter (java -cp)" yes "$JAVA" -cp "$CP" CsvSplitter -q "$DATA" --max-size "$MAX" -o @DIR@
# OLD=REV: an older commit's splitter beside today's (./jbang, a checkout made by bench/old-checkout.sh)
if [ -n "${OLD:-}" ]; then
  OLD_DIR=$(bench/old-checkout.sh "$OLD"); (cd "$OLD_DIR" && ./jbang build large-files/csv-splitter.java >/dev/null 2>&1)
  run "csv-splitter $OLD (./jbang)" yes bash -c 'cd "$1" && ./jbang large-files/csv-splitter.java -q "$2" --max-size "$3" -o "$4"' _ \
    "$OLD_DIR" "$DATA" "$MAX" @DIR@
fi
run "GNU split -C"            no  split -C "$MAX" "$DATA" @DIR@/part_
run "GNU split -l"            no  split -l "$LINES_PER_PART" "$DATA" @DIR@/part_
run "DuckDB COPY FILE_SIZE_BYTES" yes node bench/csv-splitter/duckdb-split.mjs "$DATA" @DIR@ "$MAX"
run "Miller split -n"         yes mlr --csv split -n "$ROWS_PER_PART" --prefix @DIR@/part "$DATA"
run "Python csv module"       yes python3 bench/csv-splitter/py-splitter.py "$DATA" @DIR@ "$MAX"

ours=$(echo "${results[0]}" | cut -d'|' -f2)
printf '%-28s %8s %8s %9s %8s %7s %6s %15s %7s %7s %9s\n' tool seconds "CPU s" MB/s "t/ours" "RSS MB" parts "max part MB" header "no cut" verbatim
for r in "${results[@]}"; do
  IFS='|' read -r name secs cpu rss n max hdr bal verb <<< "$r"
  if [ "$secs" = failed ]; then printf '%-28s failed\n' "$name"; continue; fi
  awk -v name="$name" -v s="$secs" -v cpu="$cpu" -v rss="$rss" -v n="$n" -v max="$max" -v size="$SIZE" -v ours="$ours" -v cap="$MAX" \
      -v hdr="$hdr" -v bal="$bal" -v verb="$verb" 'BEGIN {
    over = max > cap ? sprintf(" (%.3fx cap)", max / cap) : "";
    printf "%-28s %8.2f %8.2f %9.0f %7.2fx %7.0f %6d %15s %7s %7s %9s\n", name, s, cpu, size / s / 1e6, s / ours, rss / 1024, n, sprintf("%.1f%s", max / 1e6, over), hdr, bal, verb }'
done
if [ -n "${OLD:-}" ]; then
  awk -v n="$ours" -v o="$(echo "${results[2]}" | cut -d'|' -f2)" -v r="$OLD" \
    'BEGIN { printf "today against %s, both through ./jbang: %.2fx its speed (old time / new time)\n", r, o / n }'
fi
echo
echo "seconds: wall time of the whole process (median of $REPEAT runs; tools over 10 s ran once); CPU s: user + system; t/ours: seconds / csv-splitter (./jbang) seconds."
echo "max part: the biggest part (and its size over the cap when it is over); header: every part starts with the header;"
echo "no cut: every part has balanced quotes; verbatim: the parts, less their repeated headers, equal the input."
