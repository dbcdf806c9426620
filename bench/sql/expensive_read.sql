-- "Expensive read" for bench/cache.sh: an aggregate over one branch's 100 000 accounts (a sequential
-- scan of pgbench_accounts, ~160 MB at scale 10), with only :scale distinct results that repeat, so
-- a cache can answer almost every transaction. The client checks the count it got back and aborts
-- (division by zero -> "client N aborted", which the benchmark reports as a failure) when it is not
-- the 100 000 accounts every branch has, so a wrong or empty cached result cannot go unnoticed.
\set bid random(1, :scale)
SELECT count(*) AS n, sum(abalance) AS total, avg(abalance) AS mean FROM pgbench_accounts WHERE bid = :bid
\gset
\if :n != 100000
\set wrong_result_count 1 / 0
\endif
