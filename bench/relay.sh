#!/usr/bin/env bash
# bench/relay.sh — pass-through ("relay") throughput of pgmemo against PostgreSQL and PgBouncer.
#
# Runs pgbench against every target, for every protocol mode and workload, RUNS times, and prints
# the median TPS, its average latency, the ratio to PostgreSQL directly, and failed transactions.
# Exits non-zero if any pgbench run (warm-up included) failed, errored or had failed transactions.
#
#   bench/relay.sh                         # defaults below
#   DURATION=10 RUNS=3 bench/relay.sh
#   TARGETS="direct pgmemo" MODES=prepared bench/relay.sh
#   WORKLOADS="select-only sql/select_only.sql" bench/relay.sh   # custom script via pgbench -f
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
#              first because the ratio column is relative to it
#   PG_HOST, PG_PORT, PG_USER   PostgreSQL (default 127.0.0.1, 5432, postgres); trust/.pgpass auth
#   BENCH_DB   database created and initialised with pgbench -i if missing (default pgmemo_bench)
#   SCALE      pgbench -i -s for BENCH_DB; re-initialised when the existing scale differs (default 10)
#   OUT_DIR    where raw pgbench output, configs and logs go (default bench/out/relay-<timestamp>)
#   PGBOUNCER_USER  user pgbouncer switches to when this script runs as root (default postgres)
#   PGMEMO_JAR the pgmemo jar to run (default proxy/target/pgmemo.jar, built with
#              `mvn -B -q package -DskipTests` when missing); a private copy is run
#
# Adding a target: write target_<name>_start (start it, then `register_target <name> HOST PORT [PID]`)
# and target_<name>_stop (stop exactly what start started; must be safe to call twice), and add
# <name> to TARGETS. Everything else (warm-up, runs, medians, table, failure check) is shared.
# With a PID, the CPU time that process used during each run is reported per transaction
# ("proxy CPU us/tx"), a figure that depends less on what else runs on the machine than TPS does.
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
BENCH_DB="${BENCH_DB:-pgmemo_bench}"
SCALE="${SCALE:-10}"
PGBOUNCER_USER="${PGBOUNCER_USER:-postgres}"
OUT_DIR="${OUT_DIR:-$BENCH_DIR/out/relay-$(date +%Y%m%d-%H%M%S)}"

log() { printf '%s relay: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

for v in DURATION RUNS WARMUP CLIENTS JOBS SCALE; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
((DURATION > 0)) || die "DURATION must be > 0"
((RUNS > 0)) || die "RUNS must be > 0"
for tool in psql pgbench pg_isready ss awk; do
  command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install postgresql-client postgresql-contrib iproute2)"
done

mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
# One row per measured run. cpu_us_per_tx: CPU time of the target's process (user + system) per
# transaction, "-" when the target has no process of its own; load1: 1-minute load average after it.
RESULTS="$OUT_DIR/results.tsv"
printf 'workload\tmode\ttarget\trun\ttps\tlatency_ms\tfailed\tstatus\tcpu_us_per_tx\tload1\n' >"$RESULTS"
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
cpu_ticks() { # PID: user + system CPU time so far, in clock ticks, of all its threads
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || { echo 0; return; }
  # Fields after "(comm) ": state is 1, utime 12, stime 13.
  awk '{print $12 + $13}' <<<"${stat##*) }"
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
$BENCH_DB = host=$PG_HOST port=$PG_PORT dbname=$BENCH_DB

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
  # Foreground process in the background of this script, so $! is PgBouncer itself.
  pgbouncer "${args[@]}" "$dir/pgbouncer.ini" >>"$dir/pgbouncer.stderr" 2>&1 </dev/null &
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
declare -A PGMEMO_YAML=()
PGMEMO_JAR_COPY=""
pgmemo_jar() { # build if needed, then run a private copy so a concurrent rebuild cannot touch it
  [[ -n "$PGMEMO_JAR_COPY" ]] && return 0
  local jar="${PGMEMO_JAR:-$ROOT/proxy/target/pgmemo.jar}"
  if [[ -n "${PGMEMO_JAR:-}" ]]; then
    [[ -f "$jar" ]] || die "PGMEMO_JAR=$jar: no such file"
  elif [[ ! -f "$jar" ]]; then
    log "building pgmemo (mvn -B -q package -DskipTests)"
    (cd "$ROOT" && mvn -B -q package -DskipTests)
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
upstream: postgresql://$PG_HOST:$PG_PORT
pid_file: $dir/pgmemo.pid
admin:
  listen: 127.0.0.1:$admin
cache: $cache
EOF
  PGMEMO_YAML[$name]="$dir/pgmemo.yaml"
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
target_pgmemo_start() { start_pgmemo pgmemo '{enabled: false}'; }
target_pgmemo_stop() { stop_pgmemo pgmemo; }

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
# (unless LABEL is "warmup") and counts failures.
pgbench_once() {
  local name="$1" host="$2" port="$3" mode="$4" workload="$5" secs="$6" label="$7"
  local wname args out rc tps lat failed processed status pid="${TARGET_PID[$1]:-}" ticks0=0 cpu=-
  wname="$(workload_name "$workload")"
  mapfile -t args < <(workload_args "$workload")
  out="$OUT_DIR/pgbench/$wname-$mode-$name-$label.txt"
  mkdir -p "$(dirname "$out")"
  rc=0
  [[ -n "$pid" ]] && ticks0="$(cpu_ticks "$pid")"
  pgbench -n "${args[@]}" -M "$mode" -c "$CLIENTS" -j "$JOBS" -T "$secs" \
    -h "$host" -p "$port" -U "$PG_USER" "$BENCH_DB" >"$out" 2>&1 || rc=$?
  tps="$(awk '/^tps = / {print $3; exit}' "$out")"
  lat="$(awk '/^latency average = / {print $4; exit}' "$out")"
  failed="$(awk '/^number of failed transactions: / {print $5; exit}' "$out")"
  processed="$(awk '/^number of transactions actually processed: / {print $6; exit}' "$out")"
  processed="${processed%%/*}"
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
  if [[ "$label" != warmup ]]; then
    local load1
    load1="$(cut -d' ' -f1 /proc/loadavg)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$wname" "$mode" "$name" "$label" \
      "${tps:-0}" "${lat:-0}" "${failed:-?}" "$status" "$cpu" "$load1" >>"$RESULTS"
    log "$(printf '%-12s %-9s %-10s run %s: tps %10.1f  latency %7.3f ms  failed %s  proxy cpu %s us/tx  load %s' \
      "$wname" "$mode" "$name" "$label" "${tps:-0}" "${lat:-0}" "${failed:-?}" "$cpu" "$load1")"
  fi
}

# run_target NAME HOST PORT MODE WORKLOAD RUN: one measured run of one target.
run_target() {
  pgbench_once "$1" "$2" "$3" "$4" "$5" "$DURATION" "$6"
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

describe_env() {
  {
    echo "date: $(date -Is)"
    echo "command: DURATION=$DURATION RUNS=$RUNS WARMUP=$WARMUP CLIENTS=$CLIENTS JOBS=$JOBS SCALE=$SCALE MODES='$MODES' WORKLOADS='$WORKLOADS' TARGETS='$TARGETS' bench/relay.sh"
    echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo ' (work tree modified)')"
    echo "cpu: $(lscpu 2>/dev/null | awk -F: '/^Model name/ {gsub(/^ +/, "", $2); print $2; exit}'), $(nproc) cores"
    echo "memory: $(free -h | awk '/^Mem:/ {print $2}')"
    echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "postgresql: $(psql -X -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$BENCH_DB" -Atc 'show server_version')"
    echo "pgbench: $(pgbench -V)"
    echo "pgbouncer: $(pgbouncer -V 2>/dev/null | head -1 || echo 'not installed')"
    echo "java: $(java -version 2>&1 | head -1)"
    [[ -n "$PGMEMO_JAR_COPY" ]] && echo "pgmemo jar: sha256 $(sha256sum "$PGMEMO_JAR_COPY" | cut -d' ' -f1)"
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

if ((WARMUP > 0)); then
  for w in $WORKLOADS; do
    for m in $MODES; do
      for t in "${order[@]}"; do
        pgbench_once "$t" "${TARGET_HOST[$t]}" "${TARGET_PORT[$t]}" "$m" "$w" "$WARMUP" warmup
      done
    done
  done
fi

# Runs are interleaved (run 1 of every target and mode, then run 2, ...) so that drift in the
# machine's load affects all targets alike instead of one of them.
for ((r = 1; r <= RUNS; r++)); do
  for w in $WORKLOADS; do
    for m in $MODES; do
      for t in "${order[@]}"; do
        run_target "$t" "${TARGET_HOST[$t]}" "${TARGET_PORT[$t]}" "$m" "$w" "$r"
      done
    done
  done
done
echo "load average at end: $(cat /proc/loadavg)" >>"$OUT_DIR/env.txt"

# Median TPS per (workload, mode, target); its latency is that of the median run (mean of the two
# middle runs when RUNS is even); proxy CPU per transaction is the median of its own; failed
# transactions are summed over the runs.
summary="$(awk -F'\t' -v order="${order[*]}" -v modes="$MODES" '
  NR == 1 { next }
  {
    k = $1 SUBSEP $2 SUBSEP $3
    n[k]++; tps[k, n[k]] = $5 + 0; lat[k, n[k]] = $6 + 0
    if ($9 != "-") { nc[k]++; cpu[k, nc[k]] = $9 + 0 }
    if ($7 ~ /^[0-9]+$/) failed[k] += $7; else unknown[k] = 1
    if ($8 != "ok") bad[k]++
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
    printf "%-12s %-9s %-10s %10s %9s %9s %9s  %s\n", "workload", "mode", "target", "TPS", "lat ms", "vs direct", \
      "cpu us/tx", "failed"
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
        printf "%-12s %-9s %-10s %10.0f %9.3f %9s %9s  %s\n", wl[w], md[m], tg[t], MT, ML, ratio, median_cpu(k), f
      }
    }
  }' "$RESULTS")"
{
  echo "pgbench $CLIENTS clients, $JOBS threads, ${DURATION}s x $RUNS runs (median), warm-up ${WARMUP}s, scale $SCALE"
  echo "$summary"
} | tee "$OUT_DIR/summary.txt"

if ((FAILURES > 0)); then
  log "$FAILURES pgbench run(s) failed or had failed transactions; see $OUT_DIR/pgbench/"
  exit 1
fi
log "all pgbench runs succeeded with 0 failed transactions"
