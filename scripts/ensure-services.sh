#!/usr/bin/env bash
# Starts the local PostgreSQL and Redis if they are down, and installs the client tools the tests use
# (psql, pgbench, openssl, redis-server) when missing. Safe to run repeatedly.
set -euo pipefail

need_pkgs=()
command -v psql >/dev/null || need_pkgs+=(postgresql-client)
command -v pgbench >/dev/null || need_pkgs+=(postgresql-contrib)
command -v openssl >/dev/null || need_pkgs+=(openssl)
command -v redis-server >/dev/null || need_pkgs+=(redis-server)
command -v redis-cli >/dev/null || need_pkgs+=(redis-tools) # the tests start clusters with redis-cli --cluster
if ((${#need_pkgs[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  else
    echo "missing packages: ${need_pkgs[*]} (install them, e.g. sudo apt-get install ${need_pkgs[*]})" >&2
  fi
fi

# A second locale, so the lc_monetary case of the session-context tests can show a difference. A running
# PostgreSQL only sees locales that existed when it started: restart it once if it does not know it yet.
if [[ $(id -u) -eq 0 ]]; then
  if ! locale -a 2>/dev/null | grep -qi '^de_DE\.utf-\?8$' && command -v localedef >/dev/null; then
    localedef -i de_DE -f UTF-8 de_DE.UTF-8 || true
  fi
  if locale -a 2>/dev/null | grep -qi '^de_DE\.utf-\?8$' && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null \
      && ! psql -h 127.0.0.1 -U postgres -d postgres -qAtc "SET lc_monetary = 'de_DE.UTF-8'" >/dev/null 2>&1 \
      && command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main restart || true
  fi
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
redis-cli -h 127.0.0.1 -p 6379 ping
