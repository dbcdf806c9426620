package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.it.cache.CacheIt.Metrics;
import dev.pgmemo.it.cache.CacheIt.Mode;
import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.proxy.PgmemoServer;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.uring.IoUring;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
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
        for (String transport : List.of("io_uring", "epoll", "nio")) {
            for (Store store : Store.values()) {
                out.add(Arguments.of(transport, store));
            }
        }
        return out.stream();
    }

    /** What pgmemo runs on when asked for {@code wanted}: the same, or the next one this kernel allows. */
    private static String expected(String wanted) {
        if (wanted.equals("io_uring") && IoUring.isAvailable()) {
            return "io_uring";
        }
        return !wanted.equals("nio") && Epoll.isAvailable() ? "epoll" : "nio";
    }

    private static PgmemoServer startOn(String transport, Store store) {
        String before = System.getProperty("pgmemo.transport");
        System.setProperty("pgmemo.transport", transport);
        try {
            return CacheIt.start(store);
        } finally {
            if (before == null) {
                System.clearProperty("pgmemo.transport");
            } else {
                System.setProperty("pgmemo.transport", before);
            }
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("transportsAndStores")
    void relaysCachesAndInvalidatesOnEveryTransport(String transport, Store store) throws Exception {
        String k = transport + "-" + store;
        CacheIt.execDirect("INSERT INTO " + TABLE + " VALUES ('" + k + "', 1)");
        try (PgmemoServer pgmemo = startOn(transport, store);
                Connection c = CacheIt.connect(pgmemo, Mode.SERVER_PREPARED);
                Connection other = CacheIt.connect(pgmemo, Mode.SIMPLE)) {
            assertThat(pgmemo.transportName()).isEqualTo(expected(transport));

            Metrics m0 = CacheIt.settledMetrics(pgmemo, c);
            assertThat(CacheIt.one(c, READ, k)).isEqualTo("1");
            assertThat(CacheIt.one(c, READ, k)).isEqualTo("1");
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(m1.hits() - m0.hits()).as("the repeated read is a hit: %s", m1.since(m0)).isEqualTo(1);

            // A write through pgmemo on another connection: the next read on the first sees it.
            assertThat(CacheIt.update(other, "UPDATE " + TABLE + " SET v = 2 WHERE k = ?", k)).isEqualTo(1);
            assertThat(CacheIt.one(c, READ, k)).isEqualTo("2");

            // A result far larger than the socket buffers, so reading pauses and resumes on the way.
            try (Statement s = other.createStatement();
                    ResultSet rs = s.executeQuery("SELECT g, repeat('x', 100) FROM generate_series(1, 100000) g")) {
                long rows = 0;
                long sum = 0;
                while (rs.next()) {
                    rows++;
                    sum += rs.getLong(1);
                }
                assertThat(rows).isEqualTo(100_000);
                assertThat(sum).isEqualTo(100_000L * 100_001L / 2);
            }
        }
    }
}
