package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.it.cache.CacheIt.Metrics;
import dev.pgmemo.it.cache.CacheIt.Mode;
import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.proxy.PgmemoServer;
import java.sql.Connection;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@code cache.admission: cost}: a query shape whose keys never repeat is sent straight to PostgreSQL once
 * it has been looked up for one TTL and then through a window spanning another TTL of traffic without a
 * hit, always with the right rows; other shapes stay cached; and {@code admission: all} caches everything.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class AdmissionIT {
    private static final String ID = CacheIt.uid();
    private static final String TABLE = "memo_admit_" + ID;
    private static final int ROWS = 3000;
    /**
     * A shape that costs PostgreSQL a millisecond or so (the count), so that it would pay at its best through
     * either store (a shape that cannot is bypassed at its first window, on its times alone: AdmissionTest), and
     * is judged on its hit rate.
     */
    private static final String SHAPE = "SELECT v FROM " + TABLE + " WHERE k = ? AND (SELECT count(*) FROM " + TABLE + " a, " + TABLE + " b WHERE a.k <= 150 AND b.k <= 150) > 0";

    @BeforeAll
    static void setUp() throws Exception {
        CacheIt.execDirect("CREATE TABLE " + TABLE + " (k int PRIMARY KEY, v int NOT NULL)",
                "INSERT INTO " + TABLE + " SELECT g, g * 10 FROM generate_series(1, " + ROWS + ") g");
    }

    @AfterAll
    static void tearDown() throws Exception {
        CacheIt.execDirect("DROP TABLE IF EXISTS " + TABLE);
    }

    /**
     * pgmemo with a 3 s default TTL, so a shape may be judged once it has been looked up for 3 s and then for 3 s
     * of traffic more.
     */
    private static PgmemoServer start(Store store, String admission) {
        String yaml = CacheIt.yaml(store, "").replace("  default_ttl: 60s\n", "  default_ttl: 3s\n");
        if (admission != null) {
            yaml = yaml.replace("cache:\n", "cache:\n  admission: " + admission + "\n");
        }
        return CacheIt.start(yaml);
    }

    /** Reads keys {@code from..to} (each once, so never a hit) and checks every value against the table. */
    private static void readDistinct(Connection c, int from, int to) throws Exception {
        readDistinctOver(c, from, to, 0);
    }

    /** {@link #readDistinct}, spread over at least {@code millis}: traffic that spans a window of the 3 s TTL. */
    private static void readDistinctOver(Connection c, int from, int to, long millis) throws Exception {
        long start = System.nanoTime();
        for (int k = from; k <= to; k++) {
            assertThat(CacheIt.one(c, SHAPE, k)).isEqualTo(String.valueOf(k * 10));
            long due = start + TimeUnit.MILLISECONDS.toNanos(millis) * (k - from + 1) / (to - from + 1);
            long wait = due - System.nanoTime();
            if (wait > 0) {
                TimeUnit.NANOSECONDS.sleep(wait);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Store.class)
    void aShapeThatNeverRepeatsIsBypassedAfterOneTtlAndOtherShapesStayCached(Store store) throws Exception {
        try (PgmemoServer pgmemo = start(store, null); Connection c = CacheIt.connect(pgmemo, Mode.SERVER_PREPARED)) {
            Metrics m0 = CacheIt.settledMetrics(pgmemo, c);
            readDistinct(c, 1, 600);
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(m1.bypasses("low_benefit") - m0.bypasses("low_benefit")).as("judged before one TTL").isZero();
            assertThat(m1.misses() - m0.misses()).isEqualTo(600);

            Thread.sleep(3200);
            // Counted from here; the window closes once it spans 3 s of traffic, with no hit: bypassed from there on.
            readDistinctOver(c, 601, 1400, 3600);
            Metrics m2 = CacheIt.metrics(pgmemo, c);
            long bypassed = m2.bypasses("low_benefit") - m1.bypasses("low_benefit");
            assertThat(bypassed).as("%s", m2.since(m1)).isGreaterThan(50);
            assertThat(m2.get("pgmemo_cache_bypassed_shapes")).isEqualTo(1);
            // Every read was looked up and missed, or was bypassed (one execution in 16 of a bypassed shape still
            // goes through the cache, a probe: the unit tests count them).
            assertThat(m2.misses() - m1.misses()).isEqualTo(800 - bypassed);
            assertThat(m2.hits() - m1.hits()).isZero();

            // A shape is judged on its own: a new one is cached, its second run a hit.
            String other = "SELECT v FROM " + TABLE + " WHERE k = ? AND v >= 0";
            assertThat(CacheIt.one(c, other, 7)).isEqualTo("70");
            Metrics m4 = CacheIt.settledMetrics(pgmemo, c);
            assertThat(CacheIt.one(c, other, 7)).isEqualTo("70");
            Metrics m5 = CacheIt.metrics(pgmemo, c);
            assertThat(m5.hits() - m4.hits()).isEqualTo(1);
        }
    }

    @Test
    void admissionAllCachesEveryShape() throws Exception {
        try (PgmemoServer pgmemo = start(Store.MEMORY, "all"); Connection c = CacheIt.connect(pgmemo, Mode.SERVER_PREPARED)) {
            Metrics m0 = CacheIt.settledMetrics(pgmemo, c);
            readDistinct(c, 1, 600);
            Thread.sleep(3200);
            readDistinctOver(c, 601, 1400, 3600);
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(m1.bypasses("low_benefit") - m0.bypasses("low_benefit")).isZero();
            assertThat(m1.misses() - m0.misses()).isEqualTo(1400);
            assertThat(m1.get("pgmemo_cache_bypassed_shapes")).isZero();
        }
    }
}
