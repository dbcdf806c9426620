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
 * it has been looked up for one TTL and then through a window spanning another without a hit, always with
 * the right rows; other shapes stay cached; and {@code admission: all} caches everything.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class AdmissionIT {
    private static final String ID = CacheIt.uid();
    private static final String TABLE = "memo_admit_" + ID;
    private static final int ROWS = 3000;

    @BeforeAll
    static void setUp() throws Exception {
        CacheIt.execDirect("CREATE TABLE " + TABLE + " (k int PRIMARY KEY, v int NOT NULL)",
                "INSERT INTO " + TABLE + " SELECT g, g * 10 FROM generate_series(1, " + ROWS + ") g");
    }

    @AfterAll
    static void tearDown() throws Exception {
        CacheIt.execDirect("DROP TABLE IF EXISTS " + TABLE);
    }

    /** pgmemo with a 3 s default TTL, so a shape may be judged three seconds after its first lookup. */
    private static PgmemoServer start(Store store, String admission) {
        String yaml = CacheIt.yaml(store, "").replace("  default_ttl: 60s\n", "  default_ttl: 3s\n");
        if (admission != null) {
            yaml = yaml.replace("cache:\n", "cache:\n  admission: " + admission + "\n");
        }
        return CacheIt.start(yaml);
    }

    /** Reads keys {@code from..to} (each once, so never a hit) and checks every value against the table. */
    private static void readDistinct(Connection c, int from, int to) throws Exception {
        for (int k = from; k <= to; k++) {
            assertThat(CacheIt.one(c, "SELECT v FROM " + TABLE + " WHERE k = ?", k)).isEqualTo(String.valueOf(k * 10));
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
            readDistinct(c, 601, 1200); // counted from here, but a verdict weighs a window that spans one TTL
            Metrics m2 = CacheIt.metrics(pgmemo, c);
            assertThat(m2.bypasses("low_benefit") - m1.bypasses("low_benefit")).as("judged before the window spans one TTL").isZero();
            Thread.sleep(3200);
            readDistinct(c, 1201, 2000); // the first read closes a window without a hit: bypassed from there on
            Metrics m3 = CacheIt.metrics(pgmemo, c);
            long bypassed = m3.bypasses("low_benefit") - m2.bypasses("low_benefit");
            assertThat(bypassed).as("%s", m3.since(m2)).isGreaterThan(700);
            assertThat(m3.get("pgmemo_cache_bypassed_shapes")).isEqualTo(1);
            // One execution in 16 still goes through the cache (a probe).
            assertThat(m3.misses() - m2.misses()).isBetween(40L, 60L).isEqualTo(800 - bypassed);

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
            readDistinct(c, 601, 1200);
            Thread.sleep(3200);
            readDistinct(c, 1201, 2000);
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(m1.bypasses("low_benefit") - m0.bypasses("low_benefit")).isZero();
            assertThat(m1.misses() - m0.misses()).isEqualTo(2000);
            assertThat(m1.get("pgmemo_cache_bypassed_shapes")).isZero();
        }
    }
}
