#!/usr/bin/env bash
# postgres-client benchmark: pg-query and pg-pool against pgbench, in one run, on one PostgreSQL.
#
#   bench/postgres-client/run.sh [ROUNDS]          (default 3 rounds; run from anywhere in the checkout)
#
# Starts its own PostgreSQL (Debian's binaries, /usr/lib/postgresql/<ver>/bin, or PG_BIN=...) on a free port in a
# temp folder, unless BENCH_DATABASE_URL=postgresql://... is given (then pgbench tables are created there).
# Data: pgbench -i -s 10 (1,000,000 accounts), deterministic. Rounds alternate the peers to share the noise.
#   1. latency, SELECT 1, one connection: pgbench -M prepared -c 1 -t 1000 (median from its per-transaction log,
#      and its average) vs pg-query --repeat 1000 --sql 'SELECT 1' (median execute, after its JIT warm-up).
#   2. throughput, pgbench's -S statement (SELECT abalance FROM pgbench_accounts WHERE aid = random), 50 clients:
#      pgbench -S -M prepared -c 50 -j 2 vs pg-pool -c 50 --duration D (virtual threads + HikariCP), both cold,
#      then pg-pool again with --warmup 3s against pgbench's seconds after the same 3 s: a warm-up warms the server's
#      fresh backends too (slow for their first seconds on a VM), so the warm pair compares like with like. pgbench
#      runs 3 + D s with -P 1 and gives both figures: its first D s (cold) and its last D s (warm);
#      and each client's own CPU time per query (the part of the two cores the server does not get).
# Environment: DURATION (seconds per throughput run, default 10), CLIENTS (default 50), PIN=1: the server on core 0 and
# every client on core 1 (taskset), as when the load comes from a machine of its own; by default client and server
# share both cores, so a client's CPU a query is taken from the server.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${1:-3}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-50}
PIN=${PIN:-0}; SRV=(); CLI=()
if [ "$PIN" = 1 ]; then
  [ "$(nproc)" -ge 2 ] || { echo "bench: PIN=1 needs 2 cores" >&2; exit 1; }
  command -v taskset >/dev/null 2>&1 || { echo "bench: PIN=1 needs taskset (util-linux)" >&2; exit 1; }
  SRV=(taskset -c 0); CLI=(taskset -c 1)
fi
JB="$ROOT/jbang"
WORK=$(mktemp -d /tmp/pgc-bench.XXXXXX)
chmod 755 "$WORK"
PGPID=""
cleanup() {
  if [ -n "$PGPID" ]; then
    $AS "$PG_BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

for t in pgbench awk sort; do command -v $t >/dev/null || { echo "bench: $t is not installed (apt-get install postgresql-client)" >&2; exit 1; }; done

AS=""
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  URL=$BENCH_DATABASE_URL
else
  PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
  [ -x "$PG_BIN/initdb" ] || { echo "bench: no PostgreSQL server binaries (set PG_BIN or BENCH_DATABASE_URL)" >&2; exit 1; }
  [ "$(id -u)" = 0 ] && AS="runuser -u postgres --"
  [ -n "$AS" ] && chown postgres "$WORK"
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  $AS "$PG_BIN/initdb" -D "$WORK/data" -U postgres -A trust >/dev/null
  $AS ${SRV[@]+"${SRV[@]}"} "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/pg.log" -w -o "-p $PORT -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB -c fsync=off -c synchronous_commit=off" start >/dev/null
  PGPID=started
  URL="postgresql://postgres@127.0.0.1:$PORT/postgres"
fi

echo "bench: preparing (pgbench -i -s 10, building the scripts)..." >&2
pgbench -i -s 10 -q "$URL" >/dev/null 2>&1
echo 'SELECT 1;' > "$WORK/select1.sql"
"$JB" build "$ROOT/postgres-client/pg-query.java" >/dev/null 2>&1
"$JB" build "$ROOT/postgres-client/pg-pool.java" >/dev/null 2>&1
VERSION=$(psql "$URL" -Atc 'SHOW server_version' 2>/dev/null || echo "?")

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

declare -a PB_MED PB_AVG PQ_MED PB_TPS PBW_TPS PP_QPS PB_CPU PP_CPU PW_QPS PW_CPU
for r in $(seq 1 "$ROUNDS"); do
  echo "bench: round $r/$ROUNDS" >&2
  # 1. latency
  (cd "$WORK" && rm -f pgbench_log.* && ${CLI[@]+"${CLI[@]}"} pgbench -n -M prepared -c 1 -t 1000 -f select1.sql -l "$URL" > pgbench1.out 2>&1)
  PB_MED[$r]=$(cat "$WORK"/pgbench_log.* | awk '{print $3/1000}' | median)
  PB_AVG[$r]=$(awk '/latency average/ {print $4}' "$WORK/pgbench1.out")
  ${CLI[@]+"${CLI[@]}"} "$JB" "$ROOT/postgres-client/pg-query.java" --url "$URL" --sql 'SELECT 1' --repeat 1000 --no-rows 2> "$WORK/pgquery.err" >/dev/null
  PQ_MED[$r]=$(awk '$1 == "execute" {print $4}' "$WORK/pgquery.err")
  # 2. throughput: the three runs in a rotating order (a run right after another meets a warmer server)
  for k in $(seq 0 2); do
    case $(( (r - 1 + k) % 3 )) in
      0) TIMEFORMAT='%U %S'
         { time ${CLI[@]+"${CLI[@]}"} pgbench -n -S -M prepared -c "$CLIENTS" -j 2 -T "$((DURATION + 3))" -P 1 "$URL" > "$WORK/pgbenchS.out" 2>&1 ; } 2> "$WORK/pgbenchS.time"
         # per-second progress lines: the first DURATION seconds (cold), and the DURATION after 3 s (warm)
         PB_TPS[$r]=$(awk -v d="$DURATION" '/^progress: / && $2 + 0 < d + 0.5 { s += $4; n++ } END { if (n) printf "%.1f", s / n; else print 0 }' "$WORK/pgbenchS.out")
         PBW_TPS[$r]=$(awk '/^progress: / && $2 + 0 > 3.5 { s += $4; n++ } END { if (n) printf "%.1f", s / n; else print 0 }' "$WORK/pgbenchS.out")
         PB_CPU[$r]=$(awk -v n="$(awk -F': ' '/actually processed/ { split($2, a, "/"); print a[1] }' "$WORK/pgbenchS.out")" \
             '{ if (n + 0 > 0) printf "%.1f", ($1 + $2) * 1e6 / n; else print "nan" }' "$WORK/pgbenchS.time") ;;
      1) ${CLI[@]+"${CLI[@]}"} "$JB" "$ROOT/postgres-client/pg-pool.java" --url "$URL" -q --sql 'SELECT abalance FROM pgbench_accounts WHERE aid = :aid' \
             --random aid=1..1000000 -c "$CLIENTS" --duration "${DURATION}s" > "$WORK/pgpool.out" 2>/dev/null
         PP_QPS[$r]=$(awk '$1 == "throughput" {gsub(",", "", $2); print $2}' "$WORK/pgpool.out")
         PP_CPU[$r]=$(awk '$1 == "client" && $2 == "cpu" {print $3}' "$WORK/pgpool.out") ;;
      2) ${CLI[@]+"${CLI[@]}"} "$JB" "$ROOT/postgres-client/pg-pool.java" --url "$URL" -q --sql 'SELECT abalance FROM pgbench_accounts WHERE aid = :aid' \
             --random aid=1..1000000 -c "$CLIENTS" --duration "${DURATION}s" --warmup 3s > "$WORK/pgpoolw.out" 2>/dev/null
         PW_QPS[$r]=$(awk '$1 == "throughput" {gsub(",", "", $2); print $2}' "$WORK/pgpoolw.out")
         PW_CPU[$r]=$(awk '$1 == "client" && $2 == "cpu" {print $3}' "$WORK/pgpoolw.out") ;;
    esac
  done
done

row() { # label, array name, format
  local label=$1; local -n arr=$2; local fmt=$3
  printf "%-58s" "$label"
  for r in $(seq 1 "$ROUNDS"); do printf " %10s" "$(printf "$fmt" "${arr[$r]}")"; done
  printf " %10s\n" "$(printf "$fmt" "$(for r in $(seq 1 "$ROUNDS"); do echo "${arr[$r]}"; done | median)")"
}
ratio_row() { # label, numerator array, denominator array
  local label=$1; local -n num=$2; local -n den=$3
  local -a q
  for r in $(seq 1 "$ROUNDS"); do q[$r]=$(awk -v a="${num[$r]}" -v b="${den[$r]}" 'BEGIN {printf "%.2f", a/b}'); done
  row "$label" q "%s"
}

echo
PLACING="$(nproc) cores shared by client and server"
[ "$PIN" = 1 ] && PLACING="server on core 0, clients on core 1 (PIN=1)"
echo "postgres-client benchmark: PostgreSQL $VERSION on 127.0.0.1, $PLACING, $(date -u +%Y-%m-%d)"
printf "%-58s" ""; for r in $(seq 1 "$ROUNDS"); do printf " %10s" "round $r"; done; printf " %10s\n" "median"
echo "latency of SELECT 1, one connection, 1000 runs (ms)"
row "  pgbench -M prepared -c 1 -t 1000: median" PB_MED "%.4f"
row "  pgbench -M prepared -c 1 -t 1000: average" PB_AVG "%.4f"
row "  pg-query --repeat 1000: median execute" PQ_MED "%.4f"
ratio_row "  ratio pg-query median / pgbench median (goal <= 1.10)" PQ_MED PB_MED
echo "throughput of pgbench -S's SELECT, $CLIENTS clients, ${DURATION} s (per second)"
row "  pgbench -S -M prepared -c $CLIENTS -j 2 (tps)" PB_TPS "%.0f"
row "  pg-pool -c $CLIENTS --random aid=1..1000000 (queries/s)" PP_QPS "%.0f"
ratio_row "  ratio pg-pool / pgbench (goal >= 0.90)" PP_QPS PB_TPS
row "  pgbench, its $DURATION s after the first 3 s (tps)" PBW_TPS "%.0f"
row "  pg-pool ... --warmup 3s (its first 3 s uncounted, queries/s)" PW_QPS "%.0f"
ratio_row "  ratio pg-pool --warmup 3s / pgbench after 3 s" PW_QPS PBW_TPS
echo "client CPU per query in that run (microseconds; where client and server share the cores, this is what the server loses)"
row "  pgbench (user + system time of the process)" PB_CPU "%.1f"
row "  pg-pool (its own process CPU over the timed run)" PP_CPU "%.1f"
row "  pg-pool --warmup 3s" PW_CPU "%.1f"
