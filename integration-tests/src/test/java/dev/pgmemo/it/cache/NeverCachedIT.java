package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.it.cache.CacheIt.Metrics;
import dev.pgmemo.it.cache.CacheIt.Mode;
import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.proxy.PgmemoServer;
import java.sql.Connection;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Queries whose result is not a function of the tables they read are never served from the cache:
 * each is run twice, the second result reflects reality, and no hit is counted.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NeverCachedIT {
    private static final String ID = CacheIt.uid();
    private static final String TABLE = "memo_never_" + ID;
    private static final String SEQ = "memo_never_seq_" + ID;
    private static final String FN = "memo_never_fn_" + ID;
    private static final Map<Store, PgmemoServer> servers = new EnumMap<>(Store.class);
    private static final AtomicInteger keys = new AtomicInteger();

    @BeforeAll
    static void setUp() throws Exception {
        CacheIt.execDirect("CREATE TABLE " + TABLE + " (k int PRIMARY KEY, v int NOT NULL)",
                "CREATE SEQUENCE " + SEQ,
                "CREATE FUNCTION " + FN + "(key int) RETURNS int VOLATILE LANGUAGE sql AS $$ SELECT v FROM "
                        + TABLE + " WHERE k = key $$");
        for (Store s : Store.values()) {
            servers.put(s, CacheIt.start(s));
        }
    }

    @AfterAll
    static void tearDown() throws Exception {
        servers.values().forEach(PgmemoServer::close);
        CacheIt.execDirect("DROP FUNCTION IF EXISTS " + FN + "(int)", "DROP SEQUENCE IF EXISTS " + SEQ,
                "DROP TABLE IF EXISTS " + TABLE);
    }

    private static int newRow(int v) throws Exception {
        int k = keys.incrementAndGet();
        CacheIt.execDirect("INSERT INTO " + TABLE + " VALUES (" + k + ", " + v + ")");
        return k;
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dev.pgmemo.it.cache.CacheIt#modesAndStores")
    void neverCachesNow(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        try (Connection c = CacheIt.connect(pgmemo, mode)) {
            Metrics m0 = CacheIt.settledMetrics(pgmemo, c);
            String first = CacheIt.one(c, "SELECT now()::text");
            Thread.sleep(5);
            String second = CacheIt.one(c, "SELECT now()::text");
            Thread.sleep(5);
            String third = CacheIt.one(c, "SELECT now()::text");
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(second).isNotEqualTo(first);
            assertThat(third).isNotEqualTo(second);
            assertThat(m1.hits() - m0.hits()).as("%s", m1.since(m0)).isZero();
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dev.pgmemo.it.cache.CacheIt#modesAndStores")
    void neverCachesRandom(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        try (Connection c = CacheIt.connect(pgmemo, mode)) {
            Metrics m0 = CacheIt.settledMetrics(pgmemo, c);
            String first = CacheIt.one(c, "SELECT random()");
            String second = CacheIt.one(c, "SELECT random()");
            String third = CacheIt.one(c, "SELECT random()");
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(second).isNotEqualTo(first);
            assertThat(third).isNotEqualTo(second);
            assertThat(m1.hits() - m0.hits()).as("%s", m1.since(m0)).isZero();
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dev.pgmemo.it.cache.CacheIt#modesAndStores")
    void neverCachesNextval(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        String next = "SELECT nextval('" + SEQ + "')";
        try (Connection c = CacheIt.connect(pgmemo, mode)) {
            Metrics m0 = CacheIt.settledMetrics(pgmemo, c);
            long first = Long.parseLong(CacheIt.one(c, next));
            long second = Long.parseLong(CacheIt.one(c, next));
            long third = Long.parseLong(CacheIt.one(c, next));
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(second).isGreaterThan(first);
            assertThat(third).isGreaterThan(second);
            assertThat(m1.hits() - m0.hits()).as("%s", m1.since(m0)).isZero();
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dev.pgmemo.it.cache.CacheIt#modesAndStores")
    void neverCachesAVolatileUserFunction(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        int k = newRow(1);
        String call = "SELECT " + FN + "(?)";
        try (Connection c = CacheIt.connect(pgmemo, mode)) {
            Metrics m0 = CacheIt.settledMetrics(pgmemo, c);
            assertThat(CacheIt.one(c, call, k)).isEqualTo("1");
            assertThat(CacheIt.one(c, call, k)).isEqualTo("1");
            CacheIt.execDirect("UPDATE " + TABLE + " SET v = 2 WHERE k = " + k);
            assertThat(CacheIt.one(c, call, k)).as("the function reads the table again").isEqualTo("2");
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(m1.hits() - m0.hits()).as("%s", m1.since(m0)).isZero();
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dev.pgmemo.it.cache.CacheIt#modesAndStores")
    void neverCachesSelectForUpdate(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        int k = newRow(1);
        String lock = "SELECT v FROM " + TABLE + " WHERE k = ? FOR UPDATE";
        try (Connection c = CacheIt.connect(pgmemo, mode)) {
            Metrics m0 = CacheIt.settledMetrics(pgmemo, c);
            assertThat(CacheIt.one(c, lock, k)).isEqualTo("1");
            assertThat(CacheIt.one(c, lock, k)).isEqualTo("1");
            CacheIt.execDirect("UPDATE " + TABLE + " SET v = 2 WHERE k = " + k);
            assertThat(CacheIt.one(c, lock, k)).isEqualTo("2");
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(m1.hits() - m0.hits()).as("%s", m1.since(m0)).isZero();
        }
    }
}
