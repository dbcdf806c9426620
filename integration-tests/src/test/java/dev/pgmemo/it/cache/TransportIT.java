package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.it.cache.CacheIt.Metrics;
import dev.pgmemo.it.cache.CacheIt.Mode;
import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.it.Transports;
import dev.pgmemo.proxy.PgmemoServer;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every socket transport pgmemo can run on ({@code -Dpgmemo.transport}: io_uring, the default where the
 * kernel allows it, epoll, NIO) relays, caches and invalidates alike, with either store. The rest of the
 * suite runs on the default; this keeps the fallbacks working too.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TransportIT {
    private static final String TABLE = "memo_transport_" + CacheIt.uid();
    private static final String READ = "SELECT v FROM " + TABLE + " WHERE k = ?";

    @BeforeAll
    static void createTable() throws Exception {
        CacheIt.execDirect("CREATE TABLE " + TABLE + " (k text PRIMARY KEY, v int NOT NULL)");
    }

    @AfterAll
    static void dropTable() throws Exception {
        CacheIt.execDirect("DROP TABLE IF EXISTS " + TABLE);
    }

    static Stream<Arguments> transportsAndStores() {
        List<Arguments> out = new ArrayList<>();
        for (String transport : Transports.ALL) {
            for (Store store : Store.values()) {
                out.add(Arguments.of(transport, store));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("transportsAndStores")
    void relaysCachesAndInvalidatesOnEveryTransport(String transport, Store store) throws Exception {
        String k = transport + "-" + store;
        CacheIt.execDirect("INSERT INTO " + TABLE + " VALUES ('" + k + "', 1)");
        try (PgmemoServer pgmemo = Transports.startOn(transport, () -> CacheIt.start(store));
                Connection c = CacheIt.connect(pgmemo, Mode.SERVER_PREPARED);
                Connection other = CacheIt.connect(pgmemo, Mode.SIMPLE)) {
            assertThat(pgmemo.transportName()).isEqualTo(Transports.expected(transport));

            Metrics m0 = CacheIt.settledMetrics(pgmemo, c);
            assertThat(CacheIt.one(c, READ, k)).isEqualTo("1");
            assertThat(CacheIt.one(c, READ, k)).isEqualTo("1");
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(m1.hits() - m0.hits()).as("the repeated read is a hit: %s", m1.since(m0)).isEqualTo(1);

            // A write through pgmemo on another connection: the next read on the first sees it.
            assertThat(CacheIt.update(other, "UPDATE " + TABLE + " SET v = 2 WHERE k = ?", k)).isEqualTo(1);
            assertThat(CacheIt.one(c, READ, k)).isEqualTo("2");

            Transports.assertLargeResultArrivesWhole(other);
        }
    }
}
