package dev.pgmemo.it.safety;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/**
 * "Never wrong" when the cache store fails: each test runs its own redis-server (never the shared one) and
 * kills, freezes, flushes, restarts or slows it while clients use pgmemo. Queries must keep succeeding
 * without long stalls, and no entry computed before a write through pgmemo may be served after it.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StoreFaultSafetyIT {
    /**
     * Per-query latency bound with a 200 ms store timeout: far below the multi-second stalls a store outage
     * could cause, with room for a busy shared 2-core machine.
     */
    private static final long MAX_QUERY_MILLIS = 1500;

    private TestDb db;

    @BeforeAll
    void setUp() throws SQLException {
        db = TestDb.create("store");
    }

    @AfterAll
    void tearDown() throws SQLException {
        if (db != null) {
            db.close();
        }
    }

    private static Memo memoOn(OwnRedis redis) {
        Memo m = Memo.start(Sql.PG_PORT, redis.url(), "200ms");
        m.awaitStoreAvailable();
        assertThat(m.storeAvailable()).as("pgmemo uses its own redis-server").isEqualTo(1.0);
        return m;
    }

    /** Runs {@code sql} and fails if it took longer than the bound; returns its rows. */
    private static List<String> timed(Connection c, String what, String sql, Object... params) throws SQLException {
        long start = System.nanoTime();
        List<String> rows = Sql.rows(c, sql, params);
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertThat(ms).as("%s took %d ms", what, ms).isLessThan(MAX_QUERY_MILLIS);
        return rows;
    }

    private static void timedExec(Connection c, String what, String sql) throws SQLException {
        long start = System.nanoTime();
        Sql.exec(c, sql);
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertThat(ms).as("%s took %d ms", what, ms).isLessThan(MAX_QUERY_MILLIS);
    }

    /**
     * Reads {@code q} through pgmemo until it is answered from the cache again (the store is back in use),
     * asserting every answer; fails if the cache is not used again within 15 s.
     */
    private static void readUntilCachedAgain(Memo m, Connection c, String q, String expected) throws SQLException {
        long hits = m.hits();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        int reads = 0;
        while (m.hits() == hits) {
            assertThat(Sql.rows(c, q)).as("read %d after the store came back", reads++).containsExactly(expected);
            if (System.nanoTime() > deadline) {
                throw new AssertionError("pgmemo never used its store again after it recovered (store_available="
                        + m.storeAvailable() + ", " + reads + " reads); the checks above prove nothing stale was served"
                        + " only if the cache is consulted");
            }
            Memo.sleep(100);
        }
        assertThat(Sql.rows(c, q)).containsExactly(expected);
    }

    @Test
    void redisKilledWhileFourClientsQueryEveryQuerySucceedsWithoutStalls() throws Exception {
        db.exec("CREATE TABLE kill_t (id int, v text)",
                "INSERT INTO kill_t SELECT i, 'v' || i FROM generate_series(1, 20) i");
        try (OwnRedis redis = OwnRedis.start(); Memo m = memoOn(redis)) {
            long runMillis = 4000;
            long killAfterMillis = 1500;
            List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
            AtomicLong maxMillis = new AtomicLong();
            AtomicLong queriesAfterKill = new AtomicLong();
            AtomicLong killedAt = new AtomicLong(Long.MAX_VALUE);
            long start = System.nanoTime();
            List<Thread> clients = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                Mode mode = i % 2 == 0 ? Mode.SIMPLE : Mode.PREPARED;
                Thread t = new Thread(() -> {
                    try (Connection c = m.connect(db.name, mode)) {
                        while (System.nanoTime() - start < TimeUnit.MILLISECONDS.toNanos(runMillis)) {
                            int id = ThreadLocalRandom.current().nextInt(1, 21);
                            long q0 = System.nanoTime();
                            List<String> rows = Sql.rows(c, "SELECT v FROM kill_t WHERE id = ?", id);
                            long q1 = System.nanoTime();
                            maxMillis.accumulateAndGet(TimeUnit.NANOSECONDS.toMillis(q1 - q0), Math::max);
                            if (!rows.equals(List.of("v" + id))) {
                                throw new AssertionError("id " + id + " read " + rows);
                            }
                            if (q0 > killedAt.get()) {
                                queriesAfterKill.incrementAndGet();
                            }
                        }
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                }, "safety-client-" + i);
                clients.add(t);
                t.start();
            }
            Thread.sleep(killAfterMillis);
            long hitsBeforeKill = m.hits();
            killedAt.set(System.nanoTime());
            redis.kill();
            for (Thread t : clients) {
                t.join(TimeUnit.SECONDS.toMillis(60));
            }
            assertThat(failures).as("client failures").isEmpty();
            assertThat(hitsBeforeKill).as("the cache was in use before the kill").isPositive();
            assertThat(queriesAfterKill.get()).as("queries after the kill").isGreaterThan(20);
            assertThat(maxMillis.get()).as("slowest query (ms)").isLessThan(MAX_QUERY_MILLIS);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (m.storeAvailable() != 0 && System.nanoTime() < deadline) {
                Memo.sleep(50);
            }
            assertThat(m.storeAvailable()).as("pgmemo_store_available after the kill").isEqualTo(0.0);
        }
    }

    @Test
    void writesWhileRedisIsFrozenAreNeverHiddenByEntriesFromBefore() throws Exception {
        db.exec("CREATE TABLE frozen_t (id int, v text)", "INSERT INTO frozen_t VALUES (1, 'old')");
        String q = "SELECT v FROM frozen_t WHERE id = 1";
        try (OwnRedis redis = OwnRedis.start(); Memo m = memoOn(redis);
                Connection r = m.connect(db.name, Mode.SIMPLE); Connection w = m.connect(db.name, Mode.PREPARED)) {
            assertThat(m.warm(r, q)).containsExactly("old");
            redis.freeze();
            try {
                // Reads time out, then the breaker opens: the write's invalidation is refused, never sent.
                for (int i = 0; i < 5; i++) {
                    assertThat(timed(r, "read while Redis is frozen", q)).containsExactly("old");
                }
                timedExec(w, "write while Redis is frozen", "UPDATE frozen_t SET v = 'new' WHERE id = 1");
                assertThat(timed(r, "read after the write while Redis is frozen", q)).containsExactly("new");
                assertThat(timed(w, "read in the writing session", q)).containsExactly("new");
            } finally {
                redis.thaw();
            }
            // Redis is back with its old data: the entry with 'old' and the tokens it recorded are all there.
            readUntilCachedAgain(m, r, q, "new");
            assertThat(Sql.rows(w, q)).containsExactly("new");
        }
    }

    /**
     * A read pipelined behind a write (sent before the write's ReadyForQuery came back) waits until the write's
     * invalidation is done: it used to be looked up while the bump was still on its way to Redis, answered with
     * the old row, and even ahead of the write's ReadyForQuery.
     */
    @Test
    void readPipelinedBehindAWriteWaitsForTheWritesInvalidation() throws Exception {
        db.exec("CREATE TABLE held_t (id int PRIMARY KEY, v text)", "INSERT INTO held_t VALUES (1, 'old')");
        String q = "SELECT v FROM held_t WHERE id = 1";
        try (OwnRedis redis = OwnRedis.start(); Memo m = Memo.start(Sql.PG_PORT, redis.url(), "10s");
                Connection r = m.connect(db.name, Mode.SIMPLE);
                Wire w = Wire.connect(m.port(), Sql.SUPERUSER, db.name)) {
            // Warmed on the same connection: its session context (and so its cache key) is the raw client's.
            long hits = m.hits();
            for (int i = 0; i < 10 && m.hits() == hits; i++) {
                assertThat(w.simple(q)).extracting(Wire.Msg::type).contains('D');
                Memo.sleep(50);
            }
            assertThat(m.hits()).as("the read is served from the cache (precondition)").isGreaterThan(hits);
            redis.freeze(); // the invalidation after the UPDATE now waits for Redis
            try {
                w.send(Wire.query("UPDATE held_t SET v = 'new' WHERE id = 1"));
                Memo.sleep(200);
                w.send(Wire.query(q));
                Memo.sleep(200);
            } finally {
                redis.thaw();
            }
            List<Wire.Msg> replies = w.readUntilReady(2);
            assertThat(replies).extracting(Wire.Msg::type).containsExactly('C', 'Z', 'T', 'D', 'C', 'Z');
            assertThat(replies.get(3).columns()).containsExactly("new");
            assertThat(Sql.rows(r, q)).containsExactly("new");
        }
    }

    @Test
    void flushedOrRestartedEmptyRedisServesNothingStale() throws Exception {
        db.exec("CREATE TABLE flush_t (id int, v text)", "INSERT INTO flush_t VALUES (1, 'v1')");
        String q = "SELECT v FROM flush_t WHERE id = 1";
        try (OwnRedis redis = OwnRedis.start(); Memo m = memoOn(redis);
                Connection r = m.connect(db.name, Mode.SIMPLE); Connection w = m.connect(db.name, Mode.SIMPLE)) {
            // FLUSHALL, then a write behind pgmemo's back: no entry may survive in pgmemo itself.
            assertThat(m.warm(r, q)).containsExactly("v1");
            assertThat(redis.command("FLUSHALL")).isEqualTo("+OK");
            db.exec("UPDATE flush_t SET v = 'v2'");
            assertThat(Sql.rows(r, q)).as("after FLUSHALL").containsExactly("v2");

            // Tokens lost (evicted) but the entry kept: a missing token must never match the entry's.
            assertThat(m.warm(r, q)).containsExactly("v2");
            assertThat(redis.command("EVAL", "return #redis.call('KEYS', 'pgmemo:r:*')", "0")).isNotEqualTo(":0");
            int deleted = redis.deleteKeys("pgmemo:t:*") + redis.deleteKeys("pgmemo:e:*") + redis.deleteKeys("pgmemo:g");
            assertThat(deleted).isPositive();
            db.exec("UPDATE flush_t SET v = 'v3'");
            assertThat(Sql.rows(r, q)).as("after the version tokens were lost").containsExactly("v3");

            // Killed, written through pgmemo while down, restarted empty on the same port.
            assertThat(m.warm(r, q)).containsExactly("v3");
            redis.kill();
            timedExec(w, "write while Redis is down", "UPDATE flush_t SET v = 'v4'");
            assertThat(timed(r, "read while Redis is down", q)).containsExactly("v4");
            redis.startProcess();
            readUntilCachedAgain(m, r, q, "v4");
        }
    }

    @Test
    void slowRedisFallsBackToPostgresWithinTheTimeout() throws Exception {
        db.exec("CREATE TABLE slow_t (id int, v text)", "INSERT INTO slow_t VALUES (1, 's1'), (2, 's2')");
        String q = "SELECT v FROM slow_t WHERE id = ?";
        try (OwnRedis redis = OwnRedis.start(); Memo m = memoOn(redis);
                Connection r = m.connect(db.name, Mode.PREPARED); Connection w = m.connect(db.name, Mode.SIMPLE)) {
            assertThat(m.warm(r, q, 1)).containsExactly("s1");
            assertThat(m.warm(r, q, 2)).containsExactly("s2");
            Thread sleeper = redis.sleepInBackground(2);
            Memo.sleep(100);
            long start = System.nanoTime();
            assertThat(timed(r, "cached read while Redis sleeps", q, 1)).containsExactly("s1");
            assertThat(timed(r, "cached read while Redis sleeps", q, 2)).containsExactly("s2");
            timedExec(w, "write while Redis sleeps", "UPDATE slow_t SET v = 's1-new' WHERE id = 1");
            assertThat(timed(r, "read after the write while Redis sleeps", q, 1)).containsExactly("s1-new");
            assertThat(timed(r, "uncached read while Redis sleeps", "SELECT v, now() IS NOT NULL FROM slow_t WHERE id = ?", 2))
                    .containsExactly("s2|t");
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start))
                    .as("the reads above ran while Redis was still asleep").isLessThan(1900);
            sleeper.join(10_000);
            readUntilCachedAgain(m, r, "SELECT v FROM slow_t WHERE id = 1", "s1-new");
            assertThat(Sql.rows(r, q, 1)).containsExactly("s1-new");
        }
    }
}
