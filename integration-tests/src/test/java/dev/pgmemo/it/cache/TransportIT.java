package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.it.cache.CacheIt.Metrics;
import dev.pgmemo.it.cache.CacheIt.Mode;
import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.it.Transports;
import dev.pgmemo.proxy.PgmemoServer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
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
     * loops over every transport (Lettuce by itself would take a socket only over epoll), and a second pgmemo on
     * the same Redis sees the first one's invalidation.
     */
    @ParameterizedTest
    @MethodSource("dev.pgmemo.it.Transports#all")
    void cachesInRedisOverItsUnixSocket(String transport) throws Exception {
        String k = transport + "-redis-socket";
        try (SocketRedis redis = SocketRedis.start();
                PgmemoServer pgmemo = Transports.startOn(transport, () -> CacheIt.start(redis.yaml()));
                PgmemoServer peer = CacheIt.start(redis.yaml())) {
            relaysCachesAndInvalidates(pgmemo, transport, k);
            assertThat(redis.clientList()).as("pgmemo's connections come over the socket")
                    .isNotEmpty().allSatisfy(l -> assertThat(l).contains("addr=" + redis.socket));

            try (Connection viaPeer = CacheIt.connect(peer, Mode.SERVER_PREPARED);
                    Connection c = CacheIt.connect(pgmemo, Mode.SIMPLE)) {
                assertThat(CacheIt.one(viaPeer, READ, k)).isEqualTo("2");
                assertThat(CacheIt.one(viaPeer, READ, k)).isEqualTo("2"); // cached in the shared Redis
                assertThat(CacheIt.update(c, "UPDATE " + TABLE + " SET v = 3 WHERE k = ?", k)).isEqualTo(1);
                assertThat(CacheIt.one(viaPeer, READ, k)).as("the peer sees the invalidation at once").isEqualTo("3");
            }
        }
    }

    private static void relaysCachesAndInvalidates(PgmemoServer pgmemo, String transport, String k) throws Exception {
        CacheIt.execDirect("INSERT INTO " + TABLE + " VALUES ('" + k + "', 1)");
        try (Connection c = CacheIt.connect(pgmemo, Mode.SERVER_PREPARED);
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

    /** A redis-server of this test's own that listens on a Unix socket only (no TCP port, no persistence). */
    private static final class SocketRedis implements AutoCloseable {
        final Path dir;
        final Path socket;
        private final Process process;

        private SocketRedis(Path dir, Process process) {
            this.dir = dir;
            this.socket = dir.resolve("redis.sock");
            this.process = process;
        }

        static SocketRedis start() throws IOException, InterruptedException {
            Path dir = Files.createTempDirectory("pgmemo-it-redis");
            Process p = new ProcessBuilder("redis-server", "--port", "0", "--unixsocket",
                    dir.resolve("redis.sock").toString(), "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                    "--dir", dir.toString())
                    .redirectErrorStream(true).redirectOutput(dir.resolve("redis.log").toFile()).start();
            SocketRedis redis = new SocketRedis(dir, p);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!Files.exists(redis.socket)) {
                if (!p.isAlive() || System.nanoTime() > deadline) {
                    String log = Files.readString(dir.resolve("redis.log"));
                    redis.close();
                    throw new IOException("redis-server did not create " + redis.socket + ": " + log);
                }
                Thread.sleep(10);
            }
            return redis;
        }

        String yaml() {
            return CacheIt.yaml(Store.MEMORY, "").replace("cache:\n", "cache:\n  store: \"redis-socket://" + socket + "\"\n");
        }

        /** CLIENT LIST over the socket, without redis-cli's own connection. */
        List<String> clientList() throws IOException, InterruptedException {
            Process cli = new ProcessBuilder("redis-cli", "-s", socket.toString(), "CLIENT", "LIST")
                    .redirectErrorStream(true).start();
            String out = new String(cli.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(cli.waitFor(10, TimeUnit.SECONDS)).isTrue();
            return out.lines().filter(l -> !l.contains("cmd=client")).toList();
        }

        @Override
        public void close() throws IOException, InterruptedException {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
            try (Stream<Path> files = Files.list(dir)) {
                for (Path f : files.toList()) {
                    Files.deleteIfExists(f);
                }
            }
            Files.deleteIfExists(dir);
        }
    }
}
