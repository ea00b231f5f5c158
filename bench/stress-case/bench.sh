#!/usr/bin/env bash
# bench/stress-case: stress-case.java beside its peers, in ONE run, on the same servers:
#   HTTP  closed loop, 50 connections, DUR s, against a local nginx (Debian nginx-light) serving a small JSON:
#         wrk -t2 -c50 -d${DUR}s   vs   stress-case --target http -c 50 --duration ${DUR}s
#   SQL   SELECT by primary key, 50 clients, against a local PostgreSQL 15 (Debian binaries), pgbench scale 10:
#         pgbench -S -M prepared -c 50 -j 2 -T WARMUP+DUR -P 1 (its last DUR s)   vs
#         stress-case --target postgres -c 50 --warmup WARMUP --duration DUR --sql '...aid = :aid'
#   LIBS  the well-kept HTTP clients of bench/stress-case/http-clients.java in the same closed loop, same nginx, same
#         connections and warm-up, in the same rounds as wrk (Vert.x 5 HttpClient and WebClient, raw Netty 4.2,
#         java.net.http): the figures behind stress-case/Http1.java's header; and in the SQL rounds a non-blocking
#         driver, bench/stress-case/pg-vertx.java (Vert.x 5 pg client on 2 event loops), the same question as pgbench
#   OPEN  stress-case --rate 10000/s for OPEN_DUR s against nginx: achieved rate (target: within 1 %), p99, late starts
# Each closed-loop pair runs ROUNDS times, alternating peer and stress-case, and the table shows the medians (the
# machine is shared: alternation and medians keep a busy neighbour from favouring one side).
# Prints a table with rates, latencies, ratios and each client's CPU per request (they share the 2 cores with the
# servers). Needs: wrk, nginx (nginx-light), pgbench and
# /usr/lib/postgresql/15/bin (postgresql-15). Settings: DUR (10), OPEN_DUR (30), RATE (10000), CONNS (50), SCALE (10),
# ROUNDS (3), WARMUP (3: seconds of warm-up excluded from stress-case's results - the JVM's; for SQL pgbench gets the
# same, since a warm-up also warms the server's new backends; wrk needs none, nginx has nothing to warm a connection).
# PIN=1: servers on core 0, every client on core 1 (taskset), as when the load comes from a machine of its own; by
# default all share both cores, so a client's CPU a request is taken from the server.
# PARTS (http libs open sql): the parts to run, e.g. PARTS=sql for the PostgreSQL pair alone.
# LIBS (vertx-httpclient vertx-webclient netty jdk): the HTTP library clients of the libs part (PARTS='sql libs' LIBS=
# runs the SQL rounds with the pg driver alone); LIB_WARMUP (WARMUP): their warm-up (LIB_WARMUP=10 gives their JIT time).
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${DUR:-10}; OPEN_DUR=${OPEN_DUR:-30}; RATE=${RATE:-10000}; CONNS=${CONNS:-50}; SCALE=${SCALE:-10}; WARMUP=${WARMUP:-3}; ROUNDS=${ROUNDS:-3}
LIB_WARMUP=${LIB_WARMUP:-$WARMUP}; PARTS=" ${PARTS:-http libs open sql} "; LIBS=(${LIBS-vertx-httpclient vertx-webclient netty jdk})
part() { case "$PARTS" in *" $1 "*) return 0 ;; esac; return 1; }
part http || part libs || part open || part sql || { echo "bench: PARTS names none of http libs open sql" >&2; exit 1; }
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PIN=${PIN:-0}; SRV=(); CLI=()
if [ "$PIN" = 1 ]; then
  [ "$(nproc)" -ge 2 ] || { echo "bench: PIN=1 needs 2 cores" >&2; exit 1; }
  command -v taskset >/dev/null 2>&1 || { echo "bench: PIN=1 needs taskset (util-linux)" >&2; exit 1; }
  SRV=(taskset -c 0); CLI=(taskset -c 1)
fi
for t in wrk nginx pgbench "$PGBIN/initdb" "$PGBIN/pg_ctl"; do
  command -v "$t" >/dev/null 2>&1 || { echo "bench: $t is missing (apt-get install wrk nginx-light postgresql-15)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/bench-stress-case.XXXXXX)
chmod 755 "$work"
nginx_pid=""
cleanup() {
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
  if [ -f "$work/pg/postmaster.pid" ]; then as_pg "$PGBIN/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# numbers from stress-case's --json: the first occurrence of a key is the target's summary
jnum() { grep -m1 "\"$2\" :" "$1" | sed -E 's/.*: *([0-9.eE+-]+).*/\1/'; }
# wrk latency "597.00us" / "1.20ms" / "1.01s" -> ms
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/ && v !~ /ms$/) n *= 1000; printf "%.3f", n }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }


SC=(${CLI[@]+"${CLI[@]}"} ./jbang stress-case/stress-case.java)
"${SC[@]}" --version >/dev/null # compile once, outside the measurements
LIB=(${CLI[@]+"${CLI[@]}"} ./jbang bench/stress-case/http-clients.java)
if part libs && [ ${#LIBS[@]} -gt 0 ]; then "${LIB[@]}" >/dev/null 2>&1 || true; fi # compile (and fetch its libraries) once
placing="servers and clients share $(nproc) cores"; [ "$PIN" = 1 ] && placing="servers on core 0, clients on core 1 (PIN=1)"
echo "bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), DUR=${DUR}s, CONNS=$CONNS, $placing" >&2
# CPU time of a process (user + system seconds, from bash's time with TIMEFORMAT='%U %S') per request, in microseconds
cpu_per() { awk -v n="$2" '{ if (n + 0 > 0) printf "%.1f", ($1 + $2) * 1e6 / n; else print "nan" }' "$1"; }
http_libs() { part libs && [ ${#LIBS[@]} -gt 0 ]; }
TABLE=()
row() { TABLE+=("$(printf "$@")"); }

# ---------------------------------------------------------------- nginx
if part http || http_libs || part open; then
port=$(free_port)
mkdir -p "$work/www" "$work/nginx"
printf '{"meta":[{"name":"site_name","type":"String"}],"data":[{"site_name":"Denver"}],"rows":1,"statistics":{"elapsed":0.0001}}\n' > "$work/www/small.json"
chmod -R a+rX "$work/www"
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$port;
    location / { root $work/www; default_type application/json; }
  }
}
NGINX
${SRV[@]+"${SRV[@]}"} nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
nginx_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/small.json" >/dev/null 2>&1 && break; sleep 0.1; done
URL="http://127.0.0.1:$port/small.json"
fi

if part http || http_libs; then
W_RPS=(); W_P50=(); W_P99=(); S_RPS=(); S_P50=(); S_P99=(); W_CPU=(); S_CPU=()
declare -A L_RPS L_P50 L_P99 L_CPU L_ERR
for round in $(seq "$ROUNDS"); do
  echo "bench: HTTP closed loop, round $round/$ROUNDS: wrk$(part http && echo ', stress-case')$(part libs && printf ', %s' "${LIBS[@]}")..." >&2
  TIMEFORMAT='%U %S'; { time ${CLI[@]+"${CLI[@]}"} wrk -t2 -c"$CONNS" -d"${DUR}s" --latency "$URL" > "$work/wrk.txt" 2>&1 ; } 2> "$work/wrk.time"
  W_RPS+=("$(awk '/^Requests\/sec:/ { print $2 }' "$work/wrk.txt")")
  W_CPU+=("$(cpu_per "$work/wrk.time" "$(awk '/requests in/ { print $1 }' "$work/wrk.txt")")")
  W_P50+=("$(to_ms "$(awk '$1 == "50%" { print $2 }' "$work/wrk.txt")")")
  W_P99+=("$(to_ms "$(awk '$1 == "99%" { print $2 }' "$work/wrk.txt")")")
  if part http; then
    "${SC[@]}" --target http --http-url "$URL" -c "$CONNS" --duration "${DUR}s" --warmup "${WARMUP}s" -q --json "$work/sc-http.json" > /dev/null 2>&1
    S_RPS+=("$(jnum "$work/sc-http.json" rps)"); S_P50+=("$(jnum "$work/sc-http.json" p50)"); S_P99+=("$(jnum "$work/sc-http.json" p99)")
    S_CPU+=("$(jnum "$work/sc-http.json" us_per_request)")
  fi
  if part libs; then
    for lib in ${LIBS[@]+"${LIBS[@]}"}; do
      "${LIB[@]}" "$lib" "$URL" "$CONNS" "$DUR" "$LIB_WARMUP" > "$work/lib.json" 2> "$work/lib.err" || { cat "$work/lib.err" >&2; echo "bench: $lib failed" >&2; exit 1; }
      L_RPS[$lib]+=" $(jnum "$work/lib.json" rps)"; L_P50[$lib]+=" $(jnum "$work/lib.json" p50)"; L_P99[$lib]+=" $(jnum "$work/lib.json" p99)"
      L_CPU[$lib]+=" $(jnum "$work/lib.json" us_per_request)"; L_ERR[$lib]+=" $(jnum "$work/lib.json" errors)"
    done
  fi
done
echo "bench: HTTP rounds (req/s): wrk ${W_RPS[*]}$(part http && echo " | stress-case ${S_RPS[*]}")$(part libs && for l in ${LIBS[@]+"${LIBS[@]}"}; do printf ' | %s%s' "$l" "${L_RPS[$l]}"; done)" >&2
wrk_rps=$(median "${W_RPS[@]}"); wrk_p50=$(median "${W_P50[@]}"); wrk_p99=$(median "${W_P99[@]}"); wrk_cpu=$(median "${W_CPU[@]}")
row '%-46s %12.0f %10.3f %10.3f %12s' "HTTP wrk -t2 -c$CONNS -d${DUR}s (median of $ROUNDS)" "$wrk_rps" "$wrk_p50" "$wrk_p99" "1.00"
if part http; then
  sc_rps=$(median "${S_RPS[@]}"); sc_p50=$(median "${S_P50[@]}"); sc_p99=$(median "${S_P99[@]}"); sc_cpu=$(median "${S_CPU[@]}")
  row '%-46s %12.0f %10.3f %10.3f %12s' "HTTP stress-case -c $CONNS (closed)" "$sc_rps" "$sc_p50" "$sc_p99" "$(ratio "$sc_rps" "$wrk_rps") (>= 0.80)"
  row '%-46s %12s %10s %10s %12s' "  p50 / p99 vs wrk (within 0.80..1.20)" "" "$(ratio "$sc_p50" "$wrk_p50")" "$(ratio "$sc_p99" "$wrk_p99")" ""
  row '%-46s %12s %10s %10s %12s' "  client CPU us/request: wrk / stress-case" "" "$wrk_cpu" "$sc_cpu" ""
fi
if part libs; then
  for lib in ${LIBS[@]+"${LIBS[@]}"}; do
    # shellcheck disable=SC2086
    l_rps=$(median ${L_RPS[$lib]}); l_p50=$(median ${L_P50[$lib]}); l_p99=$(median ${L_P99[$lib]}); l_cpu=$(median ${L_CPU[$lib]})
    row '%-46s %12.0f %10.3f %10.3f %12s' "HTTP $lib -c $CONNS (warm-up ${LIB_WARMUP}s)" "$l_rps" "$l_p50" "$l_p99" "$(ratio "$l_rps" "$wrk_rps")"
    row '%-46s %12s %10s %10s %12s' "  client CPU us/request / errors" "" "$l_cpu" "$(median ${L_ERR[$lib]})" ""
  done
fi
fi

if part open; then
echo "bench: open model: stress-case --rate $RATE/s for ${OPEN_DUR}s..." >&2
"${SC[@]}" --target http --http-url "$URL" -c "$CONNS" --rate "$RATE" --duration "${OPEN_DUR}s" --warmup "${WARMUP}s" -q \
  --json "$work/sc-open.json" > /dev/null 2>&1
op_rps=$(jnum "$work/sc-open.json" rps); op_p50=$(jnum "$work/sc-open.json" p50); op_p99=$(jnum "$work/sc-open.json" p99)
op_p999=$(jnum "$work/sc-open.json" p99.9); op_late=$(jnum "$work/sc-open.json" late_starts); op_err=$(jnum "$work/sc-open.json" errors)
row '%-46s %12.0f %10.3f %10.3f %12s' "OPEN stress-case --rate $RATE/s ${OPEN_DUR}s" "$op_rps" "$op_p50" "$op_p99" "$(ratio "$op_rps" "$RATE") (0.99..1.01)"
row '%-46s %12s' "  p99.9 ms / late starts / errors" "$op_p999 / $op_late / $op_err"
fi

# ---------------------------------------------------------------- PostgreSQL
if part sql; then
pgport=$(free_port)
mkdir -p "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres "$work/pg"
as_pg "$PGBIN/initdb" -D "$work/pg" -U postgres --auth=trust -E UTF8 >/dev/null
as_pg ${SRV[@]+"${SRV[@]}"} "$PGBIN/pg_ctl" -D "$work/pg" -l "$work/pg/log" -w -o "-p $pgport -k $work/pg -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c shared_buffers=256MB" start >/dev/null
echo "bench: pgbench -i -s $SCALE..." >&2
pgbench -i -q -s "$SCALE" -h 127.0.0.1 -p "$pgport" -U postgres postgres > /dev/null 2>&1
P_TPS=(); P_LAT=(); Q_RPS=(); Q_P50=(); Q_P99=(); Q_MEAN=(); P_CPU=(); Q_CPU=(); Q_RATIO=(); V_RPS=(); V_P50=(); V_P99=(); V_CPU=(); V_RATIO=()
part libs && { ./jbang bench/stress-case/pg-vertx.java >/dev/null 2>&1 || true; } # compile once
for round in $(seq "$ROUNDS"); do
  echo "bench: SELECT by primary key, round $round/$ROUNDS: pgbench, then stress-case$(part libs && echo ', then vertx-pg-client')..." >&2
  TIMEFORMAT='%U %S'
  # pgbench runs WARMUP + DUR s and is measured over its last DUR s (its per-second progress lines): a warm-up
  # warms the server's fresh backends too (slow for their first seconds on a VM), so both sides get the same one
  { time ${CLI[@]+"${CLI[@]}"} pgbench -S -M prepared -c "$CONNS" -j 2 -T "$((DUR + WARMUP))" -P 1 -h 127.0.0.1 -p "$pgport" -U postgres postgres > "$work/pgbench.txt" 2>&1 ; } 2> "$work/pgbench.time"
  P_TPS+=("$(awk -v w="$WARMUP" '/^progress: / && $2 + 0 > w + 0.5 { s += $4; n++ } END { if (n) printf "%.1f", s / n; else print 0 }' "$work/pgbench.txt")")
  P_LAT+=("$(awk -v w="$WARMUP" '/^progress: / && $2 + 0 > w + 0.5 { s += $4 * $7; n += $4 } END { if (n) printf "%.3f", s / n; else print 0 }' "$work/pgbench.txt")")
  P_CPU+=("$(cpu_per "$work/pgbench.time" "$(awk -F': ' '/actually processed/ { print $2 }' "$work/pgbench.txt" | cut -d/ -f1)")")
  "${SC[@]}" --target postgres --url "postgresql://postgres@127.0.0.1:$pgport/postgres" -c "$CONNS" --duration "${DUR}s" \
    --warmup "${WARMUP}s" -q --sql 'SELECT abalance FROM pgbench_accounts WHERE aid = :aid' \
    --param "aid=int:1..$((SCALE * 100000))" --json "$work/sc-pg.json" > /dev/null 2>&1
  Q_RPS+=("$(jnum "$work/sc-pg.json" rps)"); Q_P50+=("$(jnum "$work/sc-pg.json" p50)"); Q_P99+=("$(jnum "$work/sc-pg.json" p99)")
  Q_MEAN+=("$(jnum "$work/sc-pg.json" mean)"); Q_CPU+=("$(jnum "$work/sc-pg.json" us_per_request)")
  Q_RATIO+=("$(ratio "${Q_RPS[-1]}" "${P_TPS[-1]}")")
  if part libs; then
    ${CLI[@]+"${CLI[@]}"} ./jbang bench/stress-case/pg-vertx.java "postgresql://postgres@127.0.0.1:$pgport/postgres" "$CONNS" "$DUR" "$WARMUP" \
      "$((SCALE * 100000))" > "$work/pg-vertx.json" 2> "$work/pg-vertx.err" || { cat "$work/pg-vertx.err" >&2; echo "bench: pg-vertx failed" >&2; exit 1; }
    V_RPS+=("$(jnum "$work/pg-vertx.json" rps)"); V_P50+=("$(jnum "$work/pg-vertx.json" p50)"); V_P99+=("$(jnum "$work/pg-vertx.json" p99)")
    V_CPU+=("$(jnum "$work/pg-vertx.json" us_per_request)"); V_RATIO+=("$(ratio "${V_RPS[-1]}" "${P_TPS[-1]}")")
  fi
done
echo "bench: SQL rounds (TPS, req/s): pgbench ${P_TPS[*]} | stress-case ${Q_RPS[*]} | ratio of each round ${Q_RATIO[*]}" >&2
pgb_tps=$(median "${P_TPS[@]}"); pgb_lat=$(median "${P_LAT[@]}")
pg_rps=$(median "${Q_RPS[@]}"); pg_p50=$(median "${Q_P50[@]}"); pg_p99=$(median "${Q_P99[@]}"); pg_mean=$(median "${Q_MEAN[@]}")
pgb_cpu=$(median "${P_CPU[@]}"); pg_cpu=$(median "${Q_CPU[@]}")
row '%-46s %12.0f %10s %10s %12s' "SQL pgbench -S -M prepared -c$CONNS -j2 (median)" "$pgb_tps" "-" "-" "1.00"
row '%-46s %12.0f %10.3f %10.3f %12s' "SQL stress-case -c $CONNS (HikariCP, bind param)" "$pg_rps" "$pg_p50" "$pg_p99" "$(ratio "$pg_rps" "$pgb_tps") (>= 0.90)"
row '%-46s %12s %10s %10s %12s' "  median of the rounds' ratios" "" "" "" "$(median "${Q_RATIO[@]}")"
row '%-46s %12s %10s %10s %12s' "  mean latency ms: pgbench / stress-case" "" "$pgb_lat" "$pg_mean" ""
row '%-46s %12s %10s %10s %12s' "  client CPU us/request: pgbench / stress-case" "" "$pgb_cpu" "$pg_cpu" ""
if part libs; then
  row '%-46s %12.0f %10.3f %10.3f %12s' "SQL vertx-pg-client -c $CONNS (2 event loops)" "$(median "${V_RPS[@]}")" "$(median "${V_P50[@]}")" \
    "$(median "${V_P99[@]}")" "$(median "${V_RATIO[@]}") (rounds: ${V_RATIO[*]})"
  row '%-46s %12s %10s %10s %12s' "  client CPU us/request: vertx-pg-client" "" "$(median "${V_CPU[@]}")" "" ""
fi
fi

# ---------------------------------------------------------------- the table
printf '\n%s, load average %s at the end\n' "$placing" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-46s %12s %10s %10s %12s\n' "run" "req/s" "p50 ms" "p99 ms" "ratio"
printf '%s\n' "${TABLE[@]}"
