-- The same transaction as pgbench's built-in select-only script (pgbench -S), as a custom script:
-- exercises bench/relay.sh's -f plumbing (WORKLOADS="sql/select_only.sql").
\set aid random(1, 100000 * :scale)
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
