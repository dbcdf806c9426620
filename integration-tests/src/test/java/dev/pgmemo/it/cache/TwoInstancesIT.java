package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.cache.store.RedisDeployment;
import dev.pgmemo.it.cache.CacheIt.Mode;
import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.proxy.PgmemoServer;
import java.sql.Connection;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Two pgmemo instances sharing one Redis see each other's invalidations. Subclasses run the same tests on other
 * Redis deployments.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TwoInstancesIT {
    private final String table = "memo_two_" + CacheIt.uid();
    private final String read = "SELECT v FROM " + table + " WHERE k = ?";
    private final AtomicInteger keys = new AtomicInteger();
    private RedisDeployment deployment;
    private PgmemoServer a;
    private PgmemoServer b;

    /**
     * A Redis deployment of the test's own for both instances, stopped after them; null (here) for the shared
     * Redis on 127.0.0.1:6379.
     */
    protected RedisDeployment startDeployment() throws Exception {
        return null;
    }

    @BeforeAll
    void setUp() throws Exception {
        CacheIt.execDirect("CREATE TABLE " + table + " (k int PRIMARY KEY, v text NOT NULL)");
        deployment = startDeployment();
        String store = deployment == null ? CacheIt.REDIS : deployment.uri();
        String yaml = CacheIt.yaml(Store.MEMORY, "").replace("cache:\n", "cache:\n  store: " + store + "\n");
        a = CacheIt.start(yaml);
        b = CacheIt.start(yaml);
    }

    @AfterAll
    void tearDown() throws Exception {
        try {
            if (a != null) {
                a.close();
            }
            if (b != null) {
                b.close();
            }
        } finally {
            if (deployment != null) {
                deployment.close();
            }
            CacheIt.execDirect("DROP TABLE IF EXISTS " + table);
        }
    }

    @ParameterizedTest
    @EnumSource(Mode.class)
    void writeThroughOneInstanceIsSeenThroughTheOther(Mode mode) throws Exception {
        int k = keys.incrementAndGet();
        CacheIt.execDirect("INSERT INTO " + table + " VALUES (" + k + ", 'before')");
        try (Connection viaA = CacheIt.connect(a, mode); Connection viaB = CacheIt.connect(b, mode)) {
            CacheIt.warm(b, viaB, read, k);
            assertThat(CacheIt.update(viaA, "UPDATE " + table + " SET v = ? WHERE k = ?", "after", k)).isEqualTo(1);
            assertThat(CacheIt.one(viaB, read, k)).as("read through B after a write through A").isEqualTo("after");
            assertThat(CacheIt.one(viaB, read, k)).isEqualTo("after");
        }
    }

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "BINARY"})
    void resultCachedByOneInstanceIsServedByTheOtherUntilInvalidatedThroughEither(Mode mode) throws Exception {
        int k = keys.incrementAndGet();
        CacheIt.execDirect("INSERT INTO " + table + " VALUES (" + k + ", 'one')");
        try (Connection viaA = CacheIt.connect(a, mode); Connection viaB = CacheIt.connect(b, mode)) {
            CacheIt.warm(a, viaA, read, k);
            CacheIt.warm(b, viaB, read, k);
            CacheIt.execDirect("UPDATE " + table + " SET v = 'two' WHERE k = " + k);
            assertThat(CacheIt.one(viaB, read, k)).as("B still serves the cached value").isEqualTo("one");
            CacheIt.invalidateTable(a, table);
            assertThat(CacheIt.one(viaB, read, k)).as("B after invalidate --table on A").isEqualTo("two");
            assertThat(CacheIt.one(viaA, read, k)).as("A after its own invalidate").isEqualTo("two");
        }
    }
}
