#!/usr/bin/env bash
# bench/relay.sh — pgbench throughput of pgmemo against PostgreSQL, PgBouncer and Pgpool-II.
#
# Runs pgbench against every target, for every protocol mode and workload, RUNS times, and prints
# the median TPS, its average latency, the longest transaction of the runs (every measured run logs
# each transaction's latency with pgbench -l; its p99 and maximum go to its log line and results.tsv,
# the logs are deleted), the ratio to PostgreSQL directly, the proxy's CPU time per
# transaction, cache hits and misses (pgmemo, Pgpool-II) and failed transactions.
# Exits non-zero if any pgbench run (warm-up included) failed, errored, had failed transactions or
# aborted clients, or if a result read through a target differed from PostgreSQL's (see verify_results).
# By default it measures pass-through (pgmemo with caching off); bench/cache.sh runs this same script
# with the caching targets and workloads.
#
#   bench/relay.sh                         # defaults below
#   DURATION=10 RUNS=3 bench/relay.sh
#   TARGETS="direct pgmemo" MODES=prepared bench/relay.sh
#   WORKLOADS="select-only sql/select_only.sql" bench/relay.sh   # custom script via pgbench -f
#   bench/cache.sh                         # caching benchmark (see there)
#
# Settings (environment):
#   DURATION   seconds per measured pgbench run (default 15; "15s" accepted)
#   RUNS       measured runs per (workload, mode, target); the median is reported (default 3)
#   WARMUP     seconds of unmeasured pgbench per (workload, mode, target) before the runs (default 5; 0 = none)
#   CLIENTS    pgbench -c (default 8)          JOBS   pgbench -j (default 2)
#   MODES      pgbench -M values (default "simple extended prepared")
#   WORKLOADS  "select-only" (pgbench -S) and/or paths of pgbench scripts (*.sql, run with -f; relative
#              paths are tried against the current directory, then bench/) (default "select-only")
#   TARGETS    targets to run, in order (default "direct pgbouncer pgmemo"); "direct" is always run
#              first because the ratio column is relative to it. Known targets:
#                direct        PostgreSQL itself
#                pgbouncer     PgBouncer, pool_mode = session
#                pgpool        Pgpool-II with its in-memory query cache (shmem), raw mode, one backend
#                pgmemo        pgmemo with caching off (pass-through)
#                pgmemo-redis  pgmemo caching in Redis ($REDIS_URL), default_ttl $CACHE_TTL
#                pgmemo-mem    pgmemo caching in its in-process store, default_ttl $CACHE_TTL
#                pgmemo-redis-socket  pgmemo caching in a Redis of its own that listens on a Unix-domain
#                              socket only (redis-server started by this script, no persistence), default_ttl
#                              $CACHE_TTL: Redis on the proxy's host, reached as it would be in production
#   SKIP       "target:workload" pairs not to run, e.g. "pgbouncer:expensive_read" (workload = its name
#              in the table: select-only, or the script's file name without .sql) (default none)
#   ORDER      "interleaved" (default): the warm-ups, then run 1 of every (workload, mode, target), then
#              run 2, ...: drift in the machine's load affects all targets alike. "consecutive": each
#              (workload, mode, target) gets its warm-up and then all its runs back to back, so a cache
#              warmed for one TTL stays warm (its steady state) instead of expiring between runs; with
#              WARMUP of two TTLs or more (e.g. 130 for the 60 s default) admission has judged the shape
#              before the first run
#   RUN_WARMUP seconds of unmeasured pgbench of the same (workload, mode, target) immediately before
#              every measured run, so caches whose entries expired since the last run are warm again
#              (default 0 = none; bench/cache.sh sets it)
#   REDIS_URL  store of pgmemo-redis (default redis://127.0.0.1:6379)
#   CACHE_TTL  default_ttl of pgmemo-redis and pgmemo-mem, and memqcache_expire of pgpool (default 60s)
#   PG_HOST, PG_PORT, PG_USER   PostgreSQL (default 127.0.0.1, 5432, postgres); trust/.pgpass auth
#   PG_SOCKET_DIR  when set (e.g. /var/run/postgresql), every proxy (PgBouncer, Pgpool-II, pgmemo) reaches
#              PostgreSQL through its Unix-domain socket in that directory instead of PG_HOST over TCP;
#              pgbench still connects to every target, direct included, over TCP (default unset)
#   BENCH_DB   database created and initialised with pgbench -i if missing (default pgmemo_bench)
#   SCALE      pgbench -i -s for BENCH_DB; re-initialised when the existing scale differs (default 10)
#   OUT_DIR    where raw pgbench output, configs and logs go (default bench/out/relay-<timestamp>)
#   PGBOUNCER_USER  user pgbouncer switches to when this script runs as root (default postgres)
#   PGMEMO_JAR the pgmemo jar to run (default proxy/target/pgmemo.jar, built with
#              `mvn -B -q package -DskipTests -pl proxy -am` when missing); a private copy is run
#   BENCH_NAME name used in log lines and the default OUT_DIR (default relay)
#
# Adding a target: write target_<name>_start (start it, then `register_target <name> HOST PORT [PID]`)
# and target_<name>_stop (stop exactly what start started; must be safe to call twice), and add
# <name> to TARGETS. Everything else (warm-up, runs, medians, table, failure check) is shared.
# With a PID, the CPU time that process and its descendants used during each run is reported per
# transaction ("proxy CPU us/tx"), a figure that depends less on what else runs on the machine than
# TPS does. An optional target_<name>_counters prints "HITS MISSES BYPASSED" (cumulative cache
# counters, "-" for one it does not have); it is read before and after every measured run and the
# difference is reported.
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
BENCH_DIR="$ROOT/bench"

DURATION="${DURATION:-15}"
DURATION="${DURATION%s}"
RUNS="${RUNS:-3}"
WARMUP="${WARMUP:-5}"
WARMUP="${WARMUP%s}"
CLIENTS="${CLIENTS:-8}"
JOBS="${JOBS:-2}"
MODES="${MODES:-simple extended prepared}"
WORKLOADS="${WORKLOADS:-select-only}"
TARGETS="${TARGETS:-direct pgbouncer pgmemo}"
PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5432}"
PG_USER="${PG_USER:-postgres}"
PG_SOCKET_DIR="${PG_SOCKET_DIR:-}"
if [[ -n "$PG_SOCKET_DIR" ]]; then
  [[ -S "$PG_SOCKET_DIR/.s.PGSQL.$PG_PORT" ]] || { echo "PG_SOCKET_DIR: no socket $PG_SOCKET_DIR/.s.PGSQL.$PG_PORT" >&2; exit 2; }
fi
# Where the proxies find PostgreSQL: a host, or a socket directory (libpq, PgBouncer and Pgpool-II all read a
# host that starts with / as one).
UPSTREAM_HOST="${PG_SOCKET_DIR:-$PG_HOST}"
BENCH_DB="${BENCH_DB:-pgmemo_bench}"
SCALE="${SCALE:-10}"
PGBOUNCER_USER="${PGBOUNCER_USER:-postgres}"
SKIP="${SKIP:-}"
ORDER="${ORDER:-interleaved}"
[[ "$ORDER" == interleaved || "$ORDER" == consecutive ]] || { echo "ORDER must be interleaved or consecutive" >&2; exit 2; }
RUN_WARMUP="${RUN_WARMUP:-0}"
RUN_WARMUP="${RUN_WARMUP%s}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
CACHE_TTL="${CACHE_TTL:-60s}"
BENCH_NAME="${BENCH_NAME:-relay}"
OUT_DIR="${OUT_DIR:-$BENCH_DIR/out/$BENCH_NAME-$(date +%Y%m%d-%H%M%S)}"

log() { printf '%s %s: %s\n' "$(date +%H:%M:%S)" "$BENCH_NAME" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# own_session CMD ARGS...: runs CMD in a session of its own, as a service or daemon runs (PostgreSQL here;
# pgmemo's `start --background` does the same). Where the kernel groups tasks for CPU scheduling by session
# (autogroup, on in Debian's kernels), a proxy in this script's session would split one CPU share with
# pgbench; measured in session 10, that stalled single queries through pgmemo for up to 1.5 s. In a
# non-interactive script a background job is not a process group leader, so setsid execs in place and $! is
# CMD's pid.
own_session() {
  if command -v setsid >/dev/null 2>&1; then
    exec setsid "$@"
  fi
  exec "$@"
}

for v in DURATION RUNS WARMUP RUN_WARMUP CLIENTS JOBS SCALE; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
((DURATION > 0)) || die "DURATION must be > 0"
((RUNS > 0)) || die "RUNS must be > 0"
[[ "$CACHE_TTL" =~ ^[0-9]+s$ ]] || die "CACHE_TTL must be whole seconds such as 60s, got '$CACHE_TTL'"
CACHE_TTL_SECONDS="${CACHE_TTL%s}"
for tool in psql pgbench pg_isready ss awk; do
  command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install postgresql-client postgresql-contrib iproute2)"
done

mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
# One row per measured run. cpu_us_per_tx: CPU time of the target's processes (user + system) per
# transaction, "-" when the target has no process of its own; load1: 1-minute load average after it;
# hits, misses: the target's cache counters during the run, "-" when it has none; bypassed: queries
# pgmemo did not even look up (any reason: store unavailable, uncacheable, ...), "-" for others.
RESULTS="$OUT_DIR/results.tsv"
printf 'workload\tmode\ttarget\trun\ttps\tlatency_ms\tfailed\tstatus\tcpu_us_per_tx\tload1\thits\tmisses\tbypassed\tp99_ms\tmax_ms\n' >"$RESULTS"
FAILURES=0

# ---- targets --------------------------------------------------------------------------------------------

declare -A TARGET_HOST=() TARGET_PORT=() TARGET_PID=()
STARTED=()        # targets whose stop function must run on exit, in start order
declare -A TAKEN_PORTS=()

register_target() { # NAME HOST PORT [PID of the process serving it, for CPU accounting]
  TARGET_HOST[$1]="$2"
  TARGET_PORT[$1]="$3"
  TARGET_PID[$1]="${4:-}"
}

CLK_TCK="$(getconf CLK_TCK)"
cpu_ticks() { # PID: user + system CPU time so far, in clock ticks, of all threads of PID and of its
  # live descendants, plus what PID's and their children that already exited used (cutime, cstime).
  # One process (PgBouncer, the JVM) or a process tree (Pgpool-II: a parent and one child per client).
  local pids p stat total=0
  pids="$(ps -e -o pid=,ppid= | awk -v root="$1" '
    { kids[$2] = kids[$2] " " $1 }
    END { queue[1] = root; n = 1; for (i = 1; i <= n; i++) { print queue[i]; m = split(kids[queue[i]], k, " ")
      for (j = 1; j <= m; j++) queue[++n] = k[j] } }')"
  for p in $pids; do
    stat="$(cat "/proc/$p/stat" 2>/dev/null)" || continue
    # Fields after "(comm) ": state is 1, utime 12, stime 13, cutime 14, cstime 15.
    total=$((total + $(awk '{print $12 + $13 + $14 + $15}' <<<"${stat##*) }")))
  done
  echo "$total"
}

free_port() { # VAR: a TCP port nobody listens on and this script has not handed out yet
  local p
  for _ in $(seq 1 500); do
    p=$((20000 + RANDOM % 30000))
    if [[ -z "${TAKEN_PORTS[$p]:-}" ]] && ! ss -Hltn "sport = :$p" | grep -q .; then
      TAKEN_PORTS[$p]=1
      printf -v "$1" '%s' "$p"
      return 0
    fi
  done
  die "no free TCP port found"
}

wait_ready() { # NAME HOST PORT: until a query through it works
  local i
  for i in $(seq 1 100); do
    if psql -X -q -h "$2" -p "$3" -U "$PG_USER" -d "$BENCH_DB" -Atc 'select 1' >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  psql -X -h "$2" -p "$3" -U "$PG_USER" -d "$BENCH_DB" -Atc 'select 1' || true
  die "$1 at $2:$3 does not answer queries"
}

# (a) PostgreSQL itself.
target_direct_start() { register_target direct "$PG_HOST" "$PG_PORT"; }
target_direct_stop() { :; }

# (b) PgBouncer, session pooling, our own process with a generated ini on a free port.
PGBOUNCER_PID=""
target_pgbouncer_start() {
  if ! command -v pgbouncer >/dev/null; then
    [[ $(id -u) -eq 0 ]] || die "pgbouncer not installed (sudo apt-get install pgbouncer)"
    log "installing pgbouncer from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
  fi
  local dir="$OUT_DIR/pgbouncer" port
  mkdir -p "$dir"
  free_port port
  printf '"%s" ""\n' "$PG_USER" >"$dir/userlist.txt"
  cat >"$dir/pgbouncer.ini" <<EOF
; generated by bench/relay.sh
[databases]
$BENCH_DB = host=$UPSTREAM_HOST port=$PG_PORT dbname=$BENCH_DB

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = session
max_client_conn = $((CLIENTS * 2 + 10))
default_pool_size = $((CLIENTS + 2))
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
  local args=()
  if [[ $(id -u) -eq 0 ]]; then
    # PgBouncer refuses to run as root; -u makes this same process switch user.
    chown -R "$PGBOUNCER_USER" "$dir"
    chmod 755 "$OUT_DIR"
    args=(-u "$PGBOUNCER_USER")
  fi
  # Foreground process in the background of this script, so $! is PgBouncer itself; in a session of its
  # own (see own_session).
  own_session pgbouncer "${args[@]}" "$dir/pgbouncer.ini" >>"$dir/pgbouncer.stderr" 2>&1 </dev/null &
  PGBOUNCER_PID=$!
  sleep 0.3
  kill -0 "$PGBOUNCER_PID" 2>/dev/null || { cat "$dir/pgbouncer.stderr" "$dir/pgbouncer.log" >&2 2>/dev/null; die "pgbouncer exited at start"; }
  wait_ready pgbouncer 127.0.0.1 "$port"
  log "pgbouncer $(pgbouncer -V | head -1 | awk '{print $2}') (pid $PGBOUNCER_PID) on 127.0.0.1:$port, pool_mode=session"
  register_target pgbouncer 127.0.0.1 "$port" "$PGBOUNCER_PID"
}
target_pgbouncer_stop() {
  [[ -n "$PGBOUNCER_PID" ]] || return 0
  local pid="$PGBOUNCER_PID"
  PGBOUNCER_PID=""
  kill -INT "$pid" 2>/dev/null || return 0   # SIGINT: safe shutdown
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
  log "pgbouncer stopped (pid $pid)"
}

# (c) pgmemo. start_pgmemo NAME CACHE_YAML starts one instance; targets differ in the cache section.
declare -A PGMEMO_YAML=() PGMEMO_ADMIN=()
PGMEMO_JAR_COPY=""
pgmemo_jar() { # build if needed, then run a private copy so a concurrent rebuild cannot touch it
  [[ -n "$PGMEMO_JAR_COPY" ]] && return 0
  local jar="${PGMEMO_JAR:-$ROOT/proxy/target/pgmemo.jar}"
  if [[ -n "${PGMEMO_JAR:-}" ]]; then
    [[ -f "$jar" ]] || die "PGMEMO_JAR=$jar: no such file"
  elif [[ ! -f "$jar" ]]; then
    log "building pgmemo (mvn -B -q package -DskipTests -pl proxy -am)"
    (cd "$ROOT" && mvn -B -q package -DskipTests -pl proxy -am)
  fi
  PGMEMO_JAR_COPY="$OUT_DIR/pgmemo.jar"
  cp "$jar" "$PGMEMO_JAR_COPY"
  log "pgmemo jar: $jar (sha256 $(sha256sum "$PGMEMO_JAR_COPY" | cut -c1-12), built $(date -r "$jar" +%FT%T))"
}
start_pgmemo() { # NAME CACHE_YAML
  local name="$1" cache="$2" dir="$OUT_DIR/$1" port admin
  pgmemo_jar
  mkdir -p "$dir"
  free_port port
  free_port admin
  cat >"$dir/pgmemo.yaml" <<EOF
# generated by bench/relay.sh
listen: 127.0.0.1:$port
upstream: "postgresql://?host=$UPSTREAM_HOST&port=$PG_PORT"
pid_file: $dir/pgmemo.pid
admin:
  listen: 127.0.0.1:$admin
cache: $cache
EOF
  PGMEMO_YAML[$name]="$dir/pgmemo.yaml"
  PGMEMO_ADMIN[$name]="127.0.0.1:$admin"
  PGMEMO_JAR="$PGMEMO_JAR_COPY" "$ROOT/bin/pgmemo" start -c "$dir/pgmemo.yaml" --background \
    --pid-file "$dir/pgmemo.pid" --log-file "$dir/pgmemo.log" >&2 || die "$name did not start (see $dir/pgmemo.log)"
  wait_ready "$name" 127.0.0.1 "$port"
  register_target "$name" 127.0.0.1 "$port" "$(cat "$dir/pgmemo.pid")"
}
stop_pgmemo() { # NAME
  local yaml="${PGMEMO_YAML[$1]:-}" pid
  [[ -n "$yaml" ]] || return 0
  unset "PGMEMO_YAML[$1]"
  if ! PGMEMO_JAR="$PGMEMO_JAR_COPY" "$ROOT/bin/pgmemo" stop -c "$yaml" >&2; then
    pid="$(cat "$(dirname "$yaml")/pgmemo.pid" 2>/dev/null || true)"
    [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null && log "$1: sent SIGTERM to pid $pid"
  fi
}
pgmemo_counters() { # NAME [LABEL]: "HITS MISSES BYPASSED" from pgmemo's /metrics; with LABEL, keeps the scrape
  local admin="${PGMEMO_ADMIN[$1]:-}" metrics
  [[ -n "$admin" ]] || { echo "- - -"; return; }
  metrics="$(curl -sf --max-time 5 "http://$admin/metrics")" || { log "$1: cannot read http://$admin/metrics"; echo "- - -"; return; }
  [[ -n "${2:-}" ]] && printf '%s\n' "$metrics" >"$OUT_DIR/$1/metrics-$2.txt"
  awk '$1 == "pgmemo_cache_hits_total" {h = $2} $1 == "pgmemo_cache_misses_total" {m = $2}
    $1 ~ /^pgmemo_cache_bypasses_total[{]/ {b += $2}
    END {printf "%d %d %d\n", h, m, b}' <<<"$metrics"
}
target_pgmemo_start() { start_pgmemo pgmemo '{enabled: false}'; }
target_pgmemo_stop() { stop_pgmemo pgmemo; }
target_pgmemo_counters() { pgmemo_counters pgmemo "$@"; }

# (d) pgmemo caching in Redis, and (e) in its in-process store.
target_pgmemo-redis_start() {
  command -v curl >/dev/null || die "curl not found (needed to read pgmemo's /metrics)"
  start_pgmemo pgmemo-redis "{store: $REDIS_URL, default_ttl: $CACHE_TTL}"
}
target_pgmemo-redis_stop() { stop_pgmemo pgmemo-redis; }
target_pgmemo-redis_counters() { pgmemo_counters pgmemo-redis "$@"; }
target_pgmemo-mem_start() {
  command -v curl >/dev/null || die "curl not found (needed to read pgmemo's /metrics)"
  start_pgmemo pgmemo-mem "{default_ttl: $CACHE_TTL}"
}
target_pgmemo-mem_stop() { stop_pgmemo pgmemo-mem; }
target_pgmemo-mem_counters() { pgmemo_counters pgmemo-mem "$@"; }

# (g) pgmemo caching in a redis-server of its own on a Unix-domain socket (no TCP port, no persistence),
# in a directory under /tmp: a socket path must stay under 108 bytes, which OUT_DIR need not.
REDIS_SOCKET_PID=""
REDIS_SOCKET_DIR=""
target_pgmemo-redis-socket_start() {
  command -v curl >/dev/null || die "curl not found (needed to read pgmemo's /metrics)"
  command -v redis-server >/dev/null || die "redis-server not found (sudo apt-get install redis-server)"
  REDIS_SOCKET_DIR="$(mktemp -d /tmp/pgmemo-bench-redis.XXXXXX)"
  local sock="$REDIS_SOCKET_DIR/redis.sock"
  own_session redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --save "" --appendonly no \
    --dir "$REDIS_SOCKET_DIR" --logfile "$OUT_DIR/redis-socket.log" </dev/null >/dev/null 2>&1 &
  REDIS_SOCKET_PID=$!
  for _ in $(seq 1 50); do [[ -S "$sock" ]] && break; sleep 0.1; done
  [[ -S "$sock" ]] || die "redis-server did not create $sock (see $OUT_DIR/redis-socket.log)"
  log "redis-server $(redis-server --version | awk '{print $3}' | tr -d 'v=') (pid $REDIS_SOCKET_PID) on $sock"
  start_pgmemo pgmemo-redis-socket "{store: \"redis-socket://$sock\", default_ttl: $CACHE_TTL}"
}
target_pgmemo-redis-socket_stop() {
  stop_pgmemo pgmemo-redis-socket
  [[ -n "$REDIS_SOCKET_PID" ]] || return 0
  local pid="$REDIS_SOCKET_PID"
  REDIS_SOCKET_PID=""
  kill -TERM "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
  rm -rf "$REDIS_SOCKET_DIR"
  log "redis-server on the socket stopped (pid $pid)"
}
target_pgmemo-redis-socket_counters() { pgmemo_counters pgmemo-redis-socket "$@"; }

# (f) Pgpool-II with its in-memory query cache: our own pgpool process (-n, foreground, in the
# background of this script) with a generated pgpool.conf; sockets, pid file, status file and the
# cache's oid directory all live in the output directory. One backend (PostgreSQL), raw mode, no
# load balancing, no health or replication checks, pool_hba off (PostgreSQL's trust auth applies).
PGPOOL_PID=""
PGPOOL_PORT=""
target_pgpool_start() {
  if ! command -v pgpool >/dev/null; then
    [[ $(id -u) -eq 0 ]] || die "pgpool not installed (sudo apt-get install pgpool2)"
    log "installing pgpool2 from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgpool2 >/dev/null
  fi
  local dir="$OUT_DIR/pgpool" port pcp
  mkdir -p "$dir/oiddir"
  free_port port
  free_port pcp
  : >"$dir/pcp.conf"
  cat >"$dir/pgpool.conf" <<EOF
# generated by bench/$BENCH_NAME.sh for $(pgpool --version 2>&1)
backend_clustering_mode = 'raw'
listen_addresses = '127.0.0.1'
port = $port
socket_dir = '$dir'
pcp_listen_addresses = ''
pcp_port = $pcp
pcp_socket_dir = '$dir'
wd_ipc_socket_dir = '$dir'
backend_hostname0 = '$UPSTREAM_HOST'
backend_port0 = $PG_PORT
backend_weight0 = 1
backend_flag0 = 'DISALLOW_TO_FAILOVER'
enable_pool_hba = off
num_init_children = $((CLIENTS + 8))
max_pool = 1
child_life_time = 0
connection_cache = on
load_balance_mode = off
sr_check_period = 0
health_check_period = 0
failover_on_backend_error = off
log_destination = 'stderr'
log_min_messages = warning
pid_file_name = '$dir/pgpool.pid'
logdir = '$dir'
memory_cache_enabled = on
memqcache_method = 'shmem'
memqcache_total_size = 64MB
memqcache_max_num_cache = 1000000
memqcache_expire = $CACHE_TTL_SECONDS
memqcache_auto_cache_invalidation = on
memqcache_oiddir = '$dir/oiddir'
EOF
  own_session pgpool -n -f "$dir/pgpool.conf" -F "$dir/pcp.conf" >>"$dir/pgpool.log" 2>&1 </dev/null &
  PGPOOL_PID=$!
  PGPOOL_PORT="$port"
  sleep 1
  kill -0 "$PGPOOL_PID" 2>/dev/null || { tail -20 "$dir/pgpool.log" >&2; die "pgpool exited at start"; }
  wait_ready pgpool 127.0.0.1 "$port"
  log "pgpool $(pgpool --version 2>&1 | awk '{print $3}') (pid $PGPOOL_PID) on 127.0.0.1:$port, memory_cache_enabled=on (shmem), memqcache_expire=$CACHE_TTL_SECONDS"
  register_target pgpool 127.0.0.1 "$port" "$PGPOOL_PID"
}
target_pgpool_stop() {
  [[ -n "$PGPOOL_PID" ]] || return 0
  local pid="$PGPOOL_PID"
  PGPOOL_PID=""
  kill -INT "$pid" 2>/dev/null || return 0   # SIGINT: fast shutdown (children and shared memory go too)
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
  log "pgpool stopped (pid $pid)"
}
target_pgpool_counters() { # SHOW pool_cache: num_cache_hits, and num_selects = SELECTs that missed
  local row
  row="$(psql -X -q -h 127.0.0.1 -p "$PGPOOL_PORT" -U "$PG_USER" -d "$BENCH_DB" -F ' ' -Atc 'SHOW pool_cache' 2>/dev/null)" \
    || { log "pgpool: SHOW pool_cache failed"; echo "- - -"; return; }
  [[ -n "${1:-}" ]] && printf '%s\n' "$row" >"$OUT_DIR/pgpool/pool_cache-$1.txt"
  awk '{print $1, $2, "-"; exit}' <<<"$row"
}

start_target() {
  declare -F "target_$1_start" >/dev/null || die "unknown target '$1' (no function target_$1_start)"
  STARTED+=("$1")
  "target_$1_start"
  [[ -n "${TARGET_PORT[$1]:-}" ]] || die "target_$1_start did not call register_target"
}

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
    "target_${STARTED[i]}_stop" || log "stopping ${STARTED[i]} failed"
  done
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# ---- workloads ------------------------------------------------------------------------------------------

workload_name() { # select-only, or a script's file name without .sql
  case "$1" in
    select-only) echo select-only ;;
    *) local b; b="$(basename "$1")"; echo "${b%.sql}" ;;
  esac
}
workload_args() { # pgbench arguments for WORKLOAD, one per line
  case "$1" in
    select-only) echo -S ;;
    *)
      local f="$1"
      [[ -f "$f" ]] || f="$BENCH_DIR/$1"
      [[ -f "$f" ]] || die "workload '$1': no such pgbench script (also tried $BENCH_DIR/$1)"
      # -s sets :scale for custom scripts (pgbench only detects it for built-in ones).
      printf '%s\n' -f "$(readlink -f "$f")" -s "$SCALE"
      ;;
  esac
}

# ---- running pgbench ------------------------------------------------------------------------------------

# pgbench_once NAME HOST PORT MODE WORKLOAD SECONDS LABEL: one pgbench run; appends a results row
# (unless LABEL starts with "warmup") and counts failures.
pgbench_once() {
  local name="$1" host="$2" port="$3" mode="$4" workload="$5" secs="$6" label="$7"
  local wname args out rc tps lat failed processed status pid="${TARGET_PID[$1]:-}" ticks0=0 cpu=-
  local counters=() c0=() c1=() hits=- misses=- bypassed=- logargs=() txlog p99=- maxlat=-
  [[ "$label" != warmup* ]] && declare -F "target_${name}_counters" >/dev/null && counters=("target_${name}_counters")
  wname="$(workload_name "$workload")"
  mapfile -t args < <(workload_args "$workload")
  out="$OUT_DIR/pgbench/$wname-$mode-$name-$label.txt"
  mkdir -p "$(dirname "$out")"
  rc=0
  ((${#counters[@]})) && read -r -a c0 <<<"$("${counters[@]}")"
  [[ -n "$pid" ]] && ticks0="$(cpu_ticks "$pid")"
  # Measured runs log every transaction's latency (pgbench -l) for the tail: p99 and the longest.
  txlog="$OUT_DIR/pgbench/txlog-$name-$$"
  [[ "$label" != warmup* ]] && logargs=(-l --log-prefix "$txlog")
  pgbench -n "${args[@]}" "${logargs[@]}" -M "$mode" -c "$CLIENTS" -j "$JOBS" -T "$secs" \
    -h "$host" -p "$port" -U "$PG_USER" "$BENCH_DB" >"$out" 2>&1 || rc=$?
  if ((${#logargs[@]})); then
    read -r p99 maxlat < <(cat "$txlog".* 2>/dev/null | awk '{print $3}' | sort -n | awk '
      { a[NR] = $1 }
      END { if (NR == 0) { print "- -"; exit } i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f %.3f\n", a[i] / 1000, a[NR] / 1000 }')
    rm -f "$txlog".*
  fi
  tps="$(awk '/^tps = / {print $3; exit}' "$out")"
  lat="$(awk '/^latency average = / {print $4; exit}' "$out")"
  failed="$(awk '/^number of failed transactions: / {print $5; exit}' "$out")"
  processed="$(awk '/^number of transactions actually processed: / {print $6; exit}' "$out")"
  processed="${processed%%/*}"
  if ((${#counters[@]})); then
    read -r -a c1 <<<"$("${counters[@]}" "$wname-$mode-run$label")"
    if [[ "${c0[0]:-}" =~ ^[0-9]+$ && "${c1[0]:-}" =~ ^[0-9]+$ ]]; then
      hits=$((c1[0] - c0[0]))
      misses=$((c1[1] - c0[1]))
    fi
    if [[ "${c0[2]:-}" =~ ^[0-9]+$ && "${c1[2]:-}" =~ ^[0-9]+$ ]]; then
      bypassed=$((c1[2] - c0[2]))
      ((bypassed == 0)) || log "note: $name bypassed its cache for $bypassed queries in $wname $mode run $label (see $OUT_DIR/$name/metrics-$wname-$mode-run$label.txt)"
    fi
  fi
  if [[ -n "$pid" && "${processed:-0}" -gt 0 ]]; then
    cpu="$(awk -v d="$(($(cpu_ticks "$pid") - ticks0))" -v hz="$CLK_TCK" -v n="$processed" \
      'BEGIN {printf "%.1f", d / hz * 1e6 / n}')"
  fi
  status=ok
  if ((rc != 0)); then
    status="exit-$rc"
  elif [[ -z "$tps" || -z "$processed" || "$processed" == 0 ]]; then
    status=no-result
  elif [[ "${failed:-0}" != 0 ]]; then
    status=failed-tx
  elif grep -qE '^pgbench: (error|fatal)|^(ERROR|FATAL):|aborted' "$out"; then
    status=error
  fi
  if [[ "$status" != ok ]]; then
    FAILURES=$((FAILURES + 1))
    log "FAILED: $name $mode $wname $label: $status (see $out)"
    grep -iE 'error|abort|fatal' "$out" | head -5 >&2 || true
  fi
  if [[ "$label" != warmup* ]]; then
    local load1
    load1="$(cut -d' ' -f1 /proc/loadavg)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$wname" "$mode" "$name" "$label" \
      "${tps:-0}" "${lat:-0}" "${failed:-?}" "$status" "$cpu" "$load1" "$hits" "$misses" "$bypassed" "$p99" "$maxlat" >>"$RESULTS"
    log "$(printf '%-14s %-9s %-19s run %s: tps %10.1f  latency %7.3f ms (p99 %s, max %s)  failed %s  proxy cpu %s us/tx  hits %s misses %s bypassed %s  load %s' \
      "$wname" "$mode" "$name" "$label" "${tps:-0}" "${lat:-0}" "$p99" "$maxlat" "${failed:-?}" "$cpu" "$hits" "$misses" "$bypassed" "$load1")"
  fi
}

# run_target NAME HOST PORT MODE WORKLOAD RUN: one measured run of one target (after RUN_WARMUP
# seconds of the same workload, unmeasured).
run_target() {
  ((RUN_WARMUP > 0)) && pgbench_once "$1" "$2" "$3" "$4" "$5" "$RUN_WARMUP" "warmup-run$6"
  pgbench_once "$1" "$2" "$3" "$4" "$5" "$DURATION" "$6"
}

skipped() { # TARGET WORKLOAD: true when SKIP lists the pair
  local pair="$1:$(workload_name "$2")" x
  for x in $SKIP; do [[ "$x" == "$pair" ]] && return 0; done
  return 1
}

# ---- database -------------------------------------------------------------------------------------------

prepare_db() {
  pg_isready -q -h "$PG_HOST" -p "$PG_PORT" || die "PostgreSQL is not accepting connections at $PG_HOST:$PG_PORT"
  local psql=(psql -X -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER")
  if [[ "$("${psql[@]}" -d postgres -Atc "select 1 from pg_database where datname = '$BENCH_DB'")" != 1 ]]; then
    log "creating database $BENCH_DB"
    "${psql[@]}" -d postgres -c "create database \"$BENCH_DB\""
  fi
  local have
  have="$("${psql[@]}" -d "$BENCH_DB" -Atc 'select count(*) from pgbench_branches' 2>/dev/null || echo 0)"
  if [[ "$have" != "$SCALE" ]]; then
    log "initialising $BENCH_DB with pgbench -i -s $SCALE (found scale ${have:-0})"
    pgbench -i -q -s "$SCALE" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$BENCH_DB" >"$OUT_DIR/pgbench-init.txt" 2>&1 \
      || { cat "$OUT_DIR/pgbench-init.txt" >&2; die "pgbench -i failed"; }
  fi
}

# verify_results LABEL: reads the same rows through every target and compares them with PostgreSQL's:
# every branch's aggregate (the expensive read's query) and a few accounts (the select-only query),
# each query twice in one session, so that with a cache the second answer comes from the cache.
# The benchmark only reads, so any difference is a wrong result. Counts as a failure.
verify_results() {
  local label="$1" dir="$OUT_DIR/verify" t bid aid
  mkdir -p "$dir"
  {
    for bid in $(seq 1 "$SCALE"); do
      echo "SELECT count(*) AS n, sum(abalance) AS total, avg(abalance) AS mean FROM pgbench_accounts WHERE bid = $bid;"
    done
    for aid in 1 2 77777 $((50000 * SCALE)) $((100000 * SCALE)); do
      echo "SELECT abalance FROM pgbench_accounts WHERE aid = $aid;"
    done
  } >"$dir/queries.sql"
  cat "$dir/queries.sql" "$dir/queries.sql" >"$dir/queries-twice.sql"
  for t in "${order[@]}"; do
    psql -X -q -A -t -v ON_ERROR_STOP=1 -h "${TARGET_HOST[$t]}" -p "${TARGET_PORT[$t]}" -U "$PG_USER" -d "$BENCH_DB" \
      -f "$dir/queries-twice.sql" >"$dir/$label-$t.txt" 2>&1 || true
    if [[ "$t" != direct ]] && ! cmp -s "$dir/$label-direct.txt" "$dir/$label-$t.txt"; then
      FAILURES=$((FAILURES + 1))
      log "FAILED: $t returned other results than PostgreSQL ($label); diff:"
      diff "$dir/$label-direct.txt" "$dir/$label-$t.txt" | head -20 >&2 || true
    fi
  done
  [[ "$(wc -l <"$dir/$label-direct.txt")" -eq $((2 * (SCALE + 5))) ]] \
    || { FAILURES=$((FAILURES + 1)); log "FAILED: verification queries against PostgreSQL itself did not return $((2 * (SCALE + 5))) rows"; }
  log "results read through every target compared with PostgreSQL's ($label)"
}

describe_env() {
  {
    echo "date: $(date -Is)"
    echo "command: DURATION=$DURATION RUNS=$RUNS WARMUP=$WARMUP ORDER=$ORDER RUN_WARMUP=$RUN_WARMUP CLIENTS=$CLIENTS JOBS=$JOBS SCALE=$SCALE MODES='$MODES' WORKLOADS='$WORKLOADS' TARGETS='$TARGETS' SKIP='$SKIP' CACHE_TTL=$CACHE_TTL PG_SOCKET_DIR='$PG_SOCKET_DIR' bench/relay.sh"
    echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo ' (work tree modified)')"
    echo "cpu: $(lscpu 2>/dev/null | awk -F: '/^Model name/ {gsub(/^ +/, "", $2); print $2; exit}'), $(nproc) cores"
    echo "memory: $(free -h | awk '/^Mem:/ {print $2}')"
    echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "postgresql: $(psql -X -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$BENCH_DB" -Atc 'show server_version')"
    echo "pgbench: $(pgbench -V)"
    echo "pgbouncer: $(pgbouncer -V 2>/dev/null | head -1 || echo 'not installed')"
    echo "pgpool: $(pgpool --version 2>&1 | head -1 || echo 'not installed')"
    echo "redis: $(redis-cli -u "$REDIS_URL" info server 2>/dev/null | awk -F: '/^redis_version/ {print $2}' | tr -d '\r' || echo '?')"
    echo "java: $(java -version 2>&1 | head -1)"
    [[ -n "$PGMEMO_JAR_COPY" ]] && echo "pgmemo jar: ${PGMEMO_JAR:-$ROOT/proxy/target/pgmemo.jar}, sha256 $(sha256sum "$PGMEMO_JAR_COPY" | cut -d' ' -f1)"
    echo "load average at start: $(cat /proc/loadavg)"
  } >"$OUT_DIR/env.txt"
}

# ---- main -----------------------------------------------------------------------------------------------

for w in $WORKLOADS; do workload_args "$w" >/dev/null; done
prepare_db
order=(direct)
for t in $TARGETS; do [[ "$t" == direct ]] || order+=("$t"); done
for t in "${order[@]}"; do start_target "$t"; done
describe_env
log "output in $OUT_DIR"
log "targets: $(for t in "${order[@]}"; do printf '%s=%s:%s ' "$t" "${TARGET_HOST[$t]}" "${TARGET_PORT[$t]}"; done)"

if [[ "$ORDER" == consecutive ]]; then
  verify_results before-runs
  for w in $WORKLOADS; do
    for m in $MODES; do
      for t in "${order[@]}"; do
        skipped "$t" "$w" && continue
        ((WARMUP > 0)) && pgbench_once "$t" "${TARGET_HOST[$t]}" "${TARGET_PORT[$t]}" "$m" "$w" "$WARMUP" warmup
        for ((r = 1; r <= RUNS; r++)); do
          run_target "$t" "${TARGET_HOST[$t]}" "${TARGET_PORT[$t]}" "$m" "$w" "$r"
        done
      done
    done
  done
  RUNS_DONE=1
fi
if [[ -z "${RUNS_DONE:-}" ]] && ((WARMUP > 0)); then
  for w in $WORKLOADS; do
    for m in $MODES; do
      for t in "${order[@]}"; do
        skipped "$t" "$w" && continue
        pgbench_once "$t" "${TARGET_HOST[$t]}" "${TARGET_PORT[$t]}" "$m" "$w" "$WARMUP" warmup
      done
    done
  done
fi
[[ -z "${RUNS_DONE:-}" ]] && verify_results after-warmup

# Runs are interleaved (run 1 of every target and mode, then run 2, ...) so that drift in the
# machine's load affects all targets alike instead of one of them.
for ((r = 1; r <= RUNS; r++)); do
  [[ -n "${RUNS_DONE:-}" ]] && break
  for w in $WORKLOADS; do
    for m in $MODES; do
      for t in "${order[@]}"; do
        skipped "$t" "$w" && continue
        run_target "$t" "${TARGET_HOST[$t]}" "${TARGET_PORT[$t]}" "$m" "$w" "$r"
      done
    done
  done
done
echo "load average at end: $(cat /proc/loadavg)" >>"$OUT_DIR/env.txt"
verify_results after-runs

# Median TPS per (workload, mode, target); its latency is that of the median run (mean of the two
# middle runs when RUNS is even); proxy CPU per transaction is the median of its own; cache hits and
# misses and failed transactions are summed over the runs. medians.tsv has the same figures for scripts.
summary="$(awk -F'\t' -v order="${order[*]}" -v modes="$MODES" -v medians="$OUT_DIR/medians.tsv" '
  NR == 1 { next }
  {
    k = $1 SUBSEP $2 SUBSEP $3
    n[k]++; tps[k, n[k]] = $5 + 0; lat[k, n[k]] = $6 + 0
    if ($9 != "-") { nc[k]++; cpu[k, nc[k]] = $9 + 0 }
    if ($11 ~ /^-?[0-9]+$/) { hits[k] += $11; misses[k] += $12; hc[k] = 1 }
    if ($13 ~ /^-?[0-9]+$/) { byp[k] += $13; bc[k] = 1; if ($13 > 0) bypruns[k]++ }
    if ($7 ~ /^[0-9]+$/) failed[k] += $7; else unknown[k] = 1
    if ($8 != "ok") bad[k]++
    if ($15 ~ /^[0-9.]+$/ && (!(k in mx) || $15 + 0 > mx[k])) mx[k] = $15 + 0
    if (!($1 in seenw)) { seenw[$1] = 1; wl[++nw] = $1 }
  }
  function median_cpu(k,    i, j, c, v, a) {
    c = nc[k]
    if (!c) return "-"
    for (i = 1; i <= c; i++) v[i] = cpu[k, i]
    for (i = 2; i <= c; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { a = v[j]; v[j] = v[j - 1]; v[j - 1] = a }
    return sprintf("%.1f", c % 2 ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2)
  }
  function median(k,    i, j, c, t, l, a, b) {
    c = n[k]
    for (i = 1; i <= c; i++) { t[i] = tps[k, i]; l[i] = lat[k, i] }
    for (i = 2; i <= c; i++) for (j = i; j > 1 && t[j - 1] > t[j]; j--) {
      a = t[j]; t[j] = t[j - 1]; t[j - 1] = a; b = l[j]; l[j] = l[j - 1]; l[j - 1] = b
    }
    if (c % 2) { MT = t[(c + 1) / 2]; ML = l[(c + 1) / 2] }
    else { MT = (t[c / 2] + t[c / 2 + 1]) / 2; ML = (l[c / 2] + l[c / 2 + 1]) / 2 }
  }
  END {
    nt = split(order, tg, " "); nm = split(modes, md, " ")
    printf "%-14s %-9s %-19s %10s %9s %9s %9s %9s %10s %9s %9s  %s\n", "workload", "mode", "target", "TPS", "lat ms", \
      "max ms", "vs direct", "cpu us/tx", "hits", "misses", "bypassed", "failed"
    printf "workload\tmode\ttarget\ttps\tlatency_ms\tvs_direct\tcpu_us_per_tx\thits\tmisses\tbypassed\tbypass_runs\tfailed\tmax_ms\n" > medians
    for (w = 1; w <= nw; w++) for (m = 1; m <= nm; m++) {
      d = wl[w] SUBSEP md[m] SUBSEP "direct"
      if (d in n) { median(d); base = MT } else base = 0
      for (t = 1; t <= nt; t++) {
        k = wl[w] SUBSEP md[m] SUBSEP tg[t]
        if (!(k in n)) continue
        median(k)
        ratio = base > 0 ? sprintf("%.2f", MT / base) : "-"
        f = (k in unknown) ? "?" : failed[k]
        if (k in bad) f = f " (" bad[k] " bad run" (bad[k] > 1 ? "s" : "") ")"
        h = (k in hc) ? hits[k] : "-"; ms = (k in hc) ? misses[k] : "-"; by = (k in bc) ? byp[k] : "-"
        x = (k in mx) ? sprintf("%.1f", mx[k]) : "-"
        printf "%-14s %-9s %-19s %10.0f %9.3f %9s %9s %9s %10s %9s %9s  %s\n", wl[w], md[m], tg[t], MT, ML, x, ratio, median_cpu(k), h, ms, by, f
        printf "%s\t%s\t%s\t%.1f\t%.3f\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", wl[w], md[m], tg[t], MT, ML, ratio, median_cpu(k), h, ms, by, bypruns[k], f, x > medians
      }
    }
  }' "$RESULTS")"
{
  echo "pgbench $CLIENTS clients, $JOBS threads, ${DURATION}s x $RUNS runs (median), warm-up ${WARMUP}s$( ((RUN_WARMUP > 0)) && echo " + ${RUN_WARMUP}s before each run"), scale $SCALE"
  echo "(max ms: the longest transaction of the runs (pgbench -l; each run's p99 is in its log line and results.tsv);"
  echo " cpu us/tx: CPU time of the proxy's processes per transaction, median; hits, misses, bypassed (pgmemo: queries"
  echo " not looked up, e.g. store unavailable): cache counters summed over the runs)"
  echo "$summary"
} | tee "$OUT_DIR/summary.txt"

if ((FAILURES > 0)); then
  log "$FAILURES pgbench run(s) failed or had failed transactions; see $OUT_DIR/pgbench/"
  exit 1
fi
log "all pgbench runs succeeded with 0 failed transactions"
