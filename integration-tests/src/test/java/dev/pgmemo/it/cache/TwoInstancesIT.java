package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.it.cache.CacheIt.Mode;
import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.proxy.PgmemoServer;
import java.sql.Connection;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Two pgmemo instances sharing one Redis see each other's invalidations. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TwoInstancesIT {
    private static final String TABLE = "memo_two_" + CacheIt.uid();
    private static final String READ = "SELECT v FROM " + TABLE + " WHERE k = ?";
    private static final AtomicInteger keys = new AtomicInteger();
    private static PgmemoServer a;
    private static PgmemoServer b;

    @BeforeAll
    static void setUp() throws Exception {
        CacheIt.execDirect("CREATE TABLE " + TABLE + " (k int PRIMARY KEY, v text NOT NULL)");
        a = CacheIt.start(Store.REDIS);
        b = CacheIt.start(Store.REDIS);
    }

    @AfterAll
    static void tearDown() throws Exception {
        if (a != null) {
            a.close();
        }
        if (b != null) {
            b.close();
        }
        CacheIt.execDirect("DROP TABLE IF EXISTS " + TABLE);
    }

    @ParameterizedTest
    @EnumSource(Mode.class)
    void writeThroughOneInstanceIsSeenThroughTheOther(Mode mode) throws Exception {
        int k = keys.incrementAndGet();
        CacheIt.execDirect("INSERT INTO " + TABLE + " VALUES (" + k + ", 'before')");
        try (Connection viaA = CacheIt.connect(a, mode); Connection viaB = CacheIt.connect(b, mode)) {
            CacheIt.warm(b, viaB, READ, k);
            assertThat(CacheIt.update(viaA, "UPDATE " + TABLE + " SET v = ? WHERE k = ?", "after", k)).isEqualTo(1);
            assertThat(CacheIt.one(viaB, READ, k)).as("read through B after a write through A").isEqualTo("after");
            assertThat(CacheIt.one(viaB, READ, k)).isEqualTo("after");
        }
    }

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "BINARY"})
    void resultCachedByOneInstanceIsServedByTheOtherUntilInvalidatedThroughEither(Mode mode) throws Exception {
        int k = keys.incrementAndGet();
        CacheIt.execDirect("INSERT INTO " + TABLE + " VALUES (" + k + ", 'one')");
        try (Connection viaA = CacheIt.connect(a, mode); Connection viaB = CacheIt.connect(b, mode)) {
            CacheIt.warm(a, viaA, READ, k);
            CacheIt.warm(b, viaB, READ, k);
            CacheIt.execDirect("UPDATE " + TABLE + " SET v = 'two' WHERE k = " + k);
            assertThat(CacheIt.one(viaB, READ, k)).as("B still serves the cached value").isEqualTo("one");
            CacheIt.invalidateTable(a, TABLE);
            assertThat(CacheIt.one(viaB, READ, k)).as("B after invalidate --table on A").isEqualTo("two");
            assertThat(CacheIt.one(viaA, READ, k)).as("A after its own invalidate").isEqualTo("two");
        }
    }
}
