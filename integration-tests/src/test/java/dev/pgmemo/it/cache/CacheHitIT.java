package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pgmemo.it.cache.CacheIt.Metrics;
import dev.pgmemo.it.cache.CacheIt.Mode;
import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.proxy.PgmemoServer;
import java.sql.Connection;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The second identical SELECT is answered from the cache — proven by the metrics and by a value changed
 * directly in PostgreSQL (bypassing pgmemo) not showing through — until the table is invalidated.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CacheHitIT {
    private static final String TABLE = "memo_hit_" + CacheIt.uid();
    private static final String READ = "SELECT v FROM " + TABLE + " WHERE k = ?";
    private static final Map<Store, PgmemoServer> servers = new EnumMap<>(Store.class);

    @BeforeAll
    static void setUp() throws Exception {
        CacheIt.execDirect("CREATE TABLE " + TABLE + " (k text PRIMARY KEY, v int NOT NULL)");
        for (Store s : Store.values()) {
            servers.put(s, CacheIt.start(s));
        }
    }

    @AfterAll
    static void tearDown() throws Exception {
        servers.values().forEach(PgmemoServer::close);
        CacheIt.execDirect("DROP TABLE IF EXISTS " + TABLE);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dev.pgmemo.it.cache.CacheIt#modesAndStores")
    void servesSecondIdenticalSelectFromCacheUntilInvalidated(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        String k = "hit-" + mode + "-" + store;
        CacheIt.execDirect("INSERT INTO " + TABLE + " VALUES ('" + k + "', 1)");
        try (Connection c = CacheIt.connect(pgmemo, mode); Connection other = CacheIt.connect(pgmemo, mode)) {
            Metrics m0 = CacheIt.settledMetrics(pgmemo, c);
            assertThat(CacheIt.one(c, READ, k)).isEqualTo("1");
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(m1.misses() - m0.misses()).as("first read is a miss: %s", m1.since(m0)).isEqualTo(1);
            assertThat(m1.hits() - m0.hits()).as("first read: %s", m1.since(m0)).isZero();
            long expectedStores = m0.stores() + 1;
            // With prepareThreshold=1 pgjdbc sends Parse/Bind/Describe/Execute the first time and only
            // Bind/Execute after that; the entry captured with its RowDescription answers both.
            long stores = expectedStores;
            await().atMost(Duration.ofSeconds(5)).until(() -> CacheIt.metrics(pgmemo).stores() >= stores);

            assertThat(CacheIt.one(c, READ, k)).isEqualTo("1");
            Metrics m2 = CacheIt.metrics(pgmemo, c);
            assertThat(m2.hits() - m1.hits()).as("the repeated read is a hit: %s", m2.since(m1)).isEqualTo(1);
            assertThat(m2.misses() - m1.misses()).as("the repeated read is a hit: %s", m2.since(m1)).isZero();

            // Changed behind pgmemo's back: the cached value is still served, on this and on another connection.
            CacheIt.execDirect("UPDATE " + TABLE + " SET v = 2 WHERE k = '" + k + "'");
            assertThat(CacheIt.one(c, READ, k)).as("served from cache").isEqualTo("1");
            assertThat(CacheIt.one(other, READ, k)).as("served from cache to another connection").isEqualTo("1");
            Metrics m3 = CacheIt.metrics(pgmemo, other);
            assertThat(m3.hits() - m2.hits()).as("%s", m3.since(m2)).isGreaterThanOrEqualTo(2);

            CacheIt.invalidateTable(pgmemo, TABLE);
            assertThat(CacheIt.one(c, READ, k)).as("fresh after invalidate --table").isEqualTo("2");
            assertThat(CacheIt.one(other, READ, k)).as("fresh after invalidate --table").isEqualTo("2");
            Metrics m4 = CacheIt.metrics(pgmemo, other);
            assertThat(m4.misses() - m3.misses()).as("%s", m4.since(m3)).isGreaterThanOrEqualTo(1);
        }
    }

    /**
     * What a new session asks PostgreSQL's catalog before its first cacheable query: its own settings, then
     * only the relations no session with the same database, user and search_path asked about yet. (Asking for
     * the relations again cost every new session 11 ms of planning, and eight sessions starting together
     * 40-90 ms each.)
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dev.pgmemo.it.cache.CacheIt#modesAndStores")
    void aNewSessionAsksOnlyForItsSettingsWhenTheRelationsAreKnown(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        String table = (TABLE + "_catalog_" + mode + "_" + store).toLowerCase(java.util.Locale.ROOT);
        String read = "SELECT v FROM " + table + " WHERE k = ?";
        CacheIt.execDirect("CREATE TABLE " + table + " (k text PRIMARY KEY, v int NOT NULL)");
        try {
            CacheIt.execDirect("INSERT INTO " + table + " VALUES ('a', 1)");
            try (Connection first = CacheIt.connect(pgmemo, mode)) {
                Metrics before = CacheIt.settledMetrics(pgmemo, first);
                assertThat(CacheIt.one(first, read, "a")).isEqualTo("1");
                long stores = before.stores() + 1;
                await().atMost(Duration.ofSeconds(5)).until(() -> CacheIt.metrics(pgmemo).stores() >= stores);
                Metrics after = CacheIt.metrics(pgmemo, first);
                assertThat(lookups(after, before)).as("settings, then the new table").isEqualTo(2);
                assertThat(relationLookups(after, before)).as("nobody asked about this table yet").isEqualTo(1);
            }
            try (Connection second = CacheIt.connect(pgmemo, mode)) {
                Metrics before = CacheIt.settledMetrics(pgmemo, second);
                assertThat(CacheIt.one(second, read, "a")).isEqualTo("1");
                Metrics after = CacheIt.metrics(pgmemo, second);
                assertThat(lookups(after, before)).as("the new session's settings were read").isEqualTo(1);
                assertThat(relationLookups(after, before)).as("relations already known are not asked about again")
                        .isZero();
                assertThat(after.hits() - before.hits()).as("%s", after.since(before)).isEqualTo(1);
            }
        } finally {
            CacheIt.execDirect("DROP TABLE IF EXISTS " + table);
        }
    }

    private static long lookups(Metrics after, Metrics before) {
        return after.get("pgmemo_catalog_lookups_total") - before.get("pgmemo_catalog_lookups_total");
    }

    private static long relationLookups(Metrics after, Metrics before) {
        return after.get("pgmemo_catalog_relation_lookups_total")
                - before.get("pgmemo_catalog_relation_lookups_total");
    }
}
