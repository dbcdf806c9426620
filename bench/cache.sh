#!/usr/bin/env bash
# bench/cache.sh — caching benchmark: pgmemo (Redis and in-process store) against PostgreSQL,
# Pgpool-II with its query cache, and PgBouncer, in every pgbench protocol mode.
#
# Two workloads, each in -M simple, extended and prepared, 8 clients (-c 8 -j 2):
#   expensive_read  bench/sql/expensive_read.sql: an aggregate over one branch's 100 000 accounts
#                   (a sequential scan at scale 10) with 10 distinct results that repeat; every
#                   client checks the count it gets and aborts on a wrong one
#   select-only     pgbench -S: a primary-key lookup over 1 000 000 accounts, so mostly cache misses
# Targets: direct (PostgreSQL), pgpool (Pgpool-II, memory_cache_enabled, shmem), pgmemo-redis (the
# running Redis, over TCP), pgmemo-redis-socket (a Redis of the script's own on a Unix-domain socket),
# pgmemo-mem (in-process store) and, for select-only only, pgbouncer (session mode) for reference.
#
# This is bench/relay.sh with other defaults: every relay.sh setting works here (DURATION, RUNS,
# MODES, TARGETS, SKIP, PGMEMO_JAR, ...; see the top of relay.sh). After relay.sh's table it prints
# whether the issue's targets were met. Exit status: relay.sh's (non-zero when any pgbench run
# failed, had failed transactions or aborted clients, or a target returned a wrong result); a
# target not met is reported, not an error.
#
#   bench/cache.sh                              # DURATION=10 RUNS=3
#   DURATION=5 RUNS=1 MODES=prepared bench/cache.sh
#   PGMEMO_JAR=/path/to/pgmemo.jar bench/cache.sh
set -uo pipefail

BENCH_DIR="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"

export BENCH_NAME="${BENCH_NAME:-cache}"
export DURATION="${DURATION:-10}"
export RUNS="${RUNS:-3}"
export WARMUP="${WARMUP:-5}"            # once per (workload, mode, target) at the start: JIT, pools
export RUN_WARMUP="${RUN_WARMUP:-3}"    # before every measured run: entries expire (CACHE_TTL) between runs
export WORKLOADS="${WORKLOADS:-sql/expensive_read.sql select-only}"
export TARGETS="${TARGETS:-direct pgbouncer pgpool pgmemo-redis pgmemo-redis-socket pgmemo-mem}"
export SKIP="${SKIP-pgbouncer:expensive_read}"
export CACHE_TTL="${CACHE_TTL:-60s}"
export OUT_DIR="${OUT_DIR:-$BENCH_DIR/out/$BENCH_NAME-$(date +%Y%m%d-%H%M%S)}"

"$BENCH_DIR/relay.sh"
rc=$?
medians="$OUT_DIR/medians.tsv"
[[ -f "$medians" ]] || exit "$rc"

# The issue's targets, from the medians: expensive read through pgmemo (Redis, over TCP and over its
# socket) at least 100x PostgreSQL and above Pgpool-II in every mode; select-only with caching on (every
# pgmemo store) at least PgBouncer's throughput in every mode; no failed transactions or aborted clients (rc).
echo
echo "issue targets (medians; 'n/a' when a target or workload was not run):"
awk -F'\t' '
  NR == 1 { next }
  { tps[$1, $2, $3] = $4; br[$1, $2, $3] = $11 + 0; if (!($2 in seen)) { seen[$2] = 1; modes[++nm] = $2 } }
  function note(w, m, t) { return br[w, m, t] ? sprintf("; %s bypassed its cache in %d run(s)", t, br[w, m, t]) : "" }
  function check(what, ok, detail) {
    printf "  %-64s %s  (%s)\n", what, ok == "" ? "n/a" : (ok ? "met" : "NOT met"), detail
  }
  END {
    for (i = 1; i <= nm; i++) {
      m = modes[i]
      d = tps["expensive_read", m, "direct"]; p = tps["expensive_read", m, "pgpool"]
      split("pgmemo-redis pgmemo-redis-socket", rt, " ")
      for (j = 1; j <= 2; j++) {
        t = rt[j]; r = tps["expensive_read", m, t]
        if (t == "pgmemo-redis-socket" && r == "") continue
        check("expensive read, " m ": " t " >= 100x direct", (r != "" && d > 0) ? r >= 100 * d : "",
          ((r != "" && d > 0) ? sprintf("%.0f vs %.0f TPS = %.0fx", r, d, r / d) : "-") note("expensive_read", m, t))
        check("expensive read, " m ": " t " > pgpool", (r != "" && p != "") ? r > p : "",
          ((r != "" && p != "") ? sprintf("%.0f vs %.0f TPS = %.2fx", r, p, r / p) : "-") note("expensive_read", m, t))
      }
      b = tps["select-only", m, "pgbouncer"]
      n = split("pgmemo-redis pgmemo-redis-socket pgmemo-mem", pm, " ")
      for (j = 1; j <= n; j++) {
        if (pm[j] == "pgmemo-redis-socket" && tps["select-only", m, pm[j]] == "") continue
        x = tps["select-only", m, pm[j]]
        check("select-only, " m ": " pm[j] " >= pgbouncer", (x != "" && b != "") ? x >= b : "",
          ((x != "" && b != "") ? sprintf("%.0f vs %.0f TPS = %.2fx", x, b, x / b) : "-") note("select-only", m, pm[j]))
      }
    }
  }' "$medians" | tee "$OUT_DIR/targets.txt"
if ((rc == 0)); then
  echo "  no failed transactions, aborted clients or wrong results: met" | tee -a "$OUT_DIR/targets.txt"
else
  echo "  no failed transactions, aborted clients or wrong results: NOT met (see the log above)" | tee -a "$OUT_DIR/targets.txt"
fi
exit "$rc"
