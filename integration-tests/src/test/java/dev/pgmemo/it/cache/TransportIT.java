package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.it.cache.CacheIt.Metrics;
import dev.pgmemo.it.cache.CacheIt.Mode;
import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.it.Transports;
import dev.pgmemo.proxy.PgmemoServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
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
        try (PgmemoServer pgmemo = Transports.startOn(transport, () -> CacheIt.start(store))) {
            relaysCachesAndInvalidates(pgmemo, transport, transport + "-" + store);
        }
    }

    /**
     * Redis on its Unix-domain socket ({@code store: redis-socket:///path}): the connections are on pgmemo's own
     * loops over every transport (Lettuce by itself would take a socket only over epoll), a second pgmemo on the
     * same Redis hits what the first stored and sees its invalidation, and after Redis restarts both reconnect over
     * the socket and serve hits again.
     */
    @ParameterizedTest
    @MethodSource("dev.pgmemo.it.Transports#all")
    void cachesInRedisOverItsUnixSocket(String transport) throws Exception {
        String k = transport + "-redis-socket";
        try (SocketRedis redis = SocketRedis.start();
                PgmemoServer pgmemo = Transports.startOn(transport, () -> CacheIt.start(redis.yaml()));
                PgmemoServer peer = CacheIt.start(redis.yaml())) {
            relaysCachesAndInvalidates(pgmemo, transport, k);

            // Simple mode on both: the same request (with prepareThreshold=1 a connection's first execution is not).
            try (Connection viaPeer = CacheIt.connect(peer, Mode.SIMPLE);
                    Connection c = CacheIt.connect(pgmemo, Mode.SIMPLE)) {
                Metrics p0 = CacheIt.settledMetrics(peer, viaPeer);
                assertThat(CacheIt.one(c, READ, k)).isEqualTo("2"); // stored by the first instance
                assertThat(CacheIt.one(viaPeer, READ, k)).isEqualTo("2");
                Metrics p1 = CacheIt.metrics(peer, viaPeer);
                assertThat(p1.hits() - p0.hits()).as("the peer hits the shared entry: %s", p1.since(p0)).isEqualTo(1);
                assertThat(CacheIt.update(c, "UPDATE " + TABLE + " SET v = 3 WHERE k = ?", k)).isEqualTo(1);
                assertThat(CacheIt.one(viaPeer, READ, k)).as("the peer sees the invalidation at once").isEqualTo("3");

                redis.restart();
                awaitHit(pgmemo, c, k, "3");
                awaitHit(peer, viaPeer, k, "3");
            }
        }
    }

    /**
     * Redis by host name, which Lettuce's DNS resolver resolves on its own transport: where that is not pgmemo's
     * (NIO with epoll available), the store keeps Lettuce's threads and still caches.
     */
    @ParameterizedTest
    @MethodSource("dev.pgmemo.it.Transports#all")
    void cachesInRedisGivenByHostName(String transport) throws Exception {
        String yaml = CacheIt.yaml(Store.REDIS, "").replace(CacheIt.REDIS, CacheIt.REDIS.replace("127.0.0.1", "localhost"));
        assertThat(yaml).contains("redis://localhost:");
        try (PgmemoServer pgmemo = Transports.startOn(transport, () -> CacheIt.start(yaml))) {
            relaysCachesAndInvalidates(pgmemo, transport, transport + "-redis-by-name");
        }
    }

    /** Reads until a read is a hit again (the store reconnected), within 15 s; every read returns {@code expected}. */
    private static void awaitHit(PgmemoServer pgmemo, Connection c, String k, String expected) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (true) {
            Metrics before = CacheIt.metrics(pgmemo, c);
            assertThat(CacheIt.one(c, READ, k)).isEqualTo(expected);
            if (CacheIt.metrics(pgmemo, c).hits() > before.hits()) {
                return;
            }
            assertThat(System.nanoTime()).as("a hit again after Redis restarted").isLessThan(deadline);
            Thread.sleep(100);
        }
    }

    private static void relaysCachesAndInvalidates(PgmemoServer pgmemo, String transport, String k) throws Exception {
        assertThat(pgmemo.transportName()).isEqualTo(Transports.expected(transport));
        CacheIt.assertHitThenInvalidation(pgmemo, TABLE, k);
        try (Connection c = CacheIt.connect(pgmemo, Mode.SIMPLE)) {
            Transports.assertLargeResultArrivesWhole(c);
        }
    }

    /** A redis-server of this test's own that listens on a Unix socket only (no TCP port, no persistence). */
    private static final class SocketRedis implements AutoCloseable {
        final Path dir;
        final Path socket;
        private Process process;

        private SocketRedis(Path dir) {
            this.dir = dir;
            this.socket = dir.resolve("redis.sock");
        }

        static SocketRedis start() throws IOException, InterruptedException {
            SocketRedis redis = new SocketRedis(Files.createTempDirectory("pgmemo-it-redis"));
            try {
                redis.startProcess();
            } catch (IOException | RuntimeException e) {
                redis.close();
                throw e;
            }
            return redis;
        }

        private void startProcess() throws IOException, InterruptedException {
            process = new ProcessBuilder("redis-server", "--port", "0", "--unixsocket", socket.toString(),
                    "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", dir.toString())
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("redis.log")
                            .toFile())).start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!Files.exists(socket)) {
                if (!process.isAlive() || System.nanoTime() > deadline) {
                    throw new IOException("redis-server did not create " + socket + ": "
                            + Files.readString(dir.resolve("redis.log")));
                }
                Thread.sleep(10);
            }
        }

        /** SIGKILL and a new, empty server on the same socket. */
        void restart() throws IOException, InterruptedException {
            stopProcess();
            Files.deleteIfExists(socket);
            startProcess();
        }

        String yaml() {
            return CacheIt.yaml(Store.MEMORY, "").replace("cache:\n", "cache:\n  store: \"redis-socket://" + socket + "\"\n");
        }

        private void stopProcess() throws InterruptedException {
            if (process != null) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
                process = null;
            }
        }

        @Override
        public void close() throws IOException, InterruptedException {
            stopProcess();
            try (Stream<Path> files = Files.list(dir)) {
                for (Path f : files.toList()) {
                    Files.deleteIfExists(f);
                }
            }
            Files.deleteIfExists(dir);
        }
    }
}
