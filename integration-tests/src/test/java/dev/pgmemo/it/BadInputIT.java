package dev.pgmemo.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pgmemo.proxy.PgmemoServer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Malformed input on raw sockets: each abusive connection gets a FATAL ErrorResponse (08P01) and is closed,
 * is counted in pgmemo_protocol_errors_total, and a well-behaved pgjdbc session running queries all along
 * never notices.
 */
@ExtendWith(LeakWatch.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BadInputIT {
    /** PostgreSQL's MAX_STARTUP_PACKET_LENGTH. */
    private static final int MAX_STARTUP_PACKET_LENGTH = 10_000;

    private static PgmemoServer pgmemo;
    private Bystander bystander;
    private double protocolErrorsBefore;

    @BeforeAll
    static void startPgmemo() {
        pgmemo = ItEnv.startPgmemo();
    }

    @AfterAll
    static void stopPgmemo() {
        if (pgmemo != null) {
            pgmemo.stop(Duration.ofSeconds(5));
        }
    }

    @BeforeEach
    void startBystander() throws Exception {
        protocolErrorsBefore = protocolErrors();
        bystander = new Bystander(pgmemo.port());
        await().atMost(Duration.ofSeconds(10)).until(() -> bystander.ok.get() >= 5);
    }

    @AfterEach
    void bystanderNeverNoticed() throws Exception {
        long okBefore = bystander.ok.get();
        await().atMost(Duration.ofSeconds(10)).until(() -> bystander.ok.get() >= okBefore + 5);
        bystander.close();
        assertThat(bystander.failures).as("queries of the concurrent well-behaved session").isEmpty();
        // Only the bystander's connections may remain: no abusive connection is left open.
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(
                AdminHttp.metric(pgmemo.adminPort(), "pgmemo_client_connections_open", null)).isZero());
    }

    private static double protocolErrors() {
        return AdminHttp.metric(pgmemo.adminPort(), "pgmemo_protocol_errors_total", null);
    }

    private void assertProtocolErrorsCountedAtLeast(int n) {
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() ->
                assertThat(protocolErrors()).isGreaterThanOrEqualTo(protocolErrorsBefore + n));
    }

    /** Reads what the server sends until it closes; asserts it closed and sent an ErrorResponse with {@code sqlState}. */
    private static RawPgClient.Message assertFatalAndClosed(RawPgClient c, String sqlState) throws IOException {
        List<RawPgClient.Message> got = c.readUntilClosed();
        assertThat(got).as("messages before close").isNotEmpty();
        RawPgClient.Message last = got.get(got.size() - 1);
        assertThat(last.type()).as("last message " + got).isEqualTo('E');
        assertThat(last.fields().get('S')).isEqualTo("FATAL");
        if (sqlState != null) {
            assertThat(last.sqlState()).as(last.toString()).isEqualTo(sqlState);
        }
        return last;
    }

    @Test
    void randomGarbageInsteadOfAStartupPacketIsRefused() throws IOException {
        Random random = new Random(20261126L);
        int refused = 0;
        for (int i = 0; i < 20; i++) {
            byte[] garbage = new byte[64];
            random.nextBytes(garbage);
            int declared = ByteBuffer.wrap(garbage).getInt();
            try (RawPgClient c = new RawPgClient(pgmemo.port())) {
                c.send(garbage);
                if (declared >= 8 && declared <= garbage.length) {
                    // A complete packet with a random protocol code: refused, with whatever code fits.
                    assertFatalAndClosed(c, null);
                } else if (declared > garbage.length && declared <= MAX_STARTUP_PACKET_LENGTH) {
                    c.socket.shutdownOutput();
                    assertFatalAndClosed(c, "08P01");
                } else {
                    assertFatalAndClosed(c, "08P01");
                }
                refused++;
            }
        }
        assertThat(refused).isEqualTo(20);
        assertProtocolErrorsCountedAtLeast(20);
    }

    @Test
    void manyGarbageConnectionsAtOnceAreAllRefused() throws IOException {
        Random random = new Random(7L);
        List<RawPgClient> clients = new ArrayList<>();
        try {
            for (int i = 0; i < 50; i++) {
                RawPgClient c = new RawPgClient(pgmemo.port());
                clients.add(c);
                byte[] garbage = new byte[64];
                random.nextBytes(garbage);
                garbage[0] = (byte) (0x80 | garbage[0]);   // a negative length: invalid for certain
                c.send(garbage);
            }
            for (RawPgClient c : clients) {
                assertFatalAndClosed(c, "08P01");
            }
        } finally {
            for (RawPgClient c : clients) {
                c.close();
            }
        }
        assertProtocolErrorsCountedAtLeast(50);
    }

    @Test
    void negativeStartupLengthIsRefused() throws IOException {
        try (RawPgClient c = new RawPgClient(pgmemo.port())) {
            c.send(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xf0, 0, 3, 0, 0});
            RawPgClient.Message error = assertFatalAndClosed(c, "08P01");
            assertThat(error.fields().get('M')).containsIgnoringCase("length");
        }
        assertProtocolErrorsCountedAtLeast(1);
    }

    @Test
    void truncatedStartupPacketFollowedByEofIsRefused() throws IOException {
        byte[] full = RawPgClient.startupMessage(ItEnv.USER, ItEnv.DB);
        try (RawPgClient c = new RawPgClient(pgmemo.port())) {
            c.send(java.util.Arrays.copyOf(full, 10));
            c.socket.shutdownOutput();
            assertFatalAndClosed(c, "08P01");
        }
        assertProtocolErrorsCountedAtLeast(1);
    }

    @Test
    void stalledStartupIsClosedAfterStartupTimeout() throws IOException {
        PgmemoServer impatient = ItEnv.startPgmemo(ItEnv.baseYaml() + "startup_timeout: 1s\n");
        try (RawPgClient c = new RawPgClient(impatient.port())) {
            byte[] full = RawPgClient.startupMessage(ItEnv.USER, ItEnv.DB);
            c.send(java.util.Arrays.copyOf(full, 10));
            long start = System.nanoTime();
            assertFatalAndClosed(c, "08P01");
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isBetween(500L, 5_000L);
        } finally {
            impatient.stop(Duration.ofSeconds(2));
        }
    }

    @Test
    void hugeDeclaredLengthAfterStartupIsRefusedAndTheBackendReleased() throws Exception {
        int backendPid;
        try (RawPgClient c = new RawPgClient(pgmemo.port())) {
            c.startup(ItEnv.USER, ItEnv.DB);
            backendPid = c.backendPid;
            assertThat(backendPid).isPositive();
            c.send(new byte[] {'Q', 0x7f, (byte) 0xff, (byte) 0xff, (byte) 0xff, 'S', 'E', 'L'});
            assertFatalAndClosed(c, "08P01");
        }
        assertProtocolErrorsCountedAtLeast(1);
        assertBackendGone(backendPid);
    }

    @Test
    void negativeAndTooShortTypedLengthsAreRefused() throws Exception {
        for (byte[] bad : List.of(
                new byte[] {'Q', (byte) 0x80, 0, 0, 0},          // negative as a signed Int32
                new byte[] {'Q', 0, 0, 0, 2},                    // shorter than the length field itself
                new byte[] {'P', (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff})) {
            int backendPid;
            try (RawPgClient c = new RawPgClient(pgmemo.port())) {
                c.startup(ItEnv.USER, ItEnv.DB);
                backendPid = c.backendPid;
                c.send(bad);
                assertFatalAndClosed(c, "08P01");
            }
            assertBackendGone(backendPid);
        }
        assertProtocolErrorsCountedAtLeast(3);
    }

    @Test
    void unknownMessageTypeIsRefusedLikePostgresDoes() throws Exception {
        try (RawPgClient c = new RawPgClient(pgmemo.port())) {
            c.startup(ItEnv.USER, ItEnv.DB);
            c.send(new byte[] {'y', 0, 0, 0, 4});
            RawPgClient.Message error = assertFatalAndClosed(c, "08P01");
            assertThat(error.fields().get('M')).contains("invalid frontend message type 121");
        }
    }

    @Test
    void startupPacketWithoutUserIsRefusedLikePostgresDoes() throws IOException {
        // protocol 3.0, only "database" given; PostgreSQL answers 28000 "no PostgreSQL user name specified".
        byte[] body = "database\0test\0\0".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        ByteBuffer packet = ByteBuffer.allocate(8 + body.length).putInt(8 + body.length).putInt(196608).put(body);
        try (RawPgClient c = new RawPgClient(pgmemo.port())) {
            c.send(packet.array());
            RawPgClient.Message error = assertFatalAndClosed(c, "28000");
            assertThat(error.fields().get('M')).contains("no PostgreSQL user name specified in startup packet");
        }
    }

    private static void assertBackendGone(int backendPid) throws SQLException {
        try (Connection d = ItEnv.direct()) {
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(50)).until(() ->
                    ItEnv.queryLong(d, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + backendPid) == 0);
        }
    }

    /** A well-behaved pgjdbc client running queries in a loop, plus a fresh connection now and then. */
    private static final class Bystander implements AutoCloseable {
        final AtomicLong ok = new AtomicLong();
        final ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final Thread thread;

        Bystander(int port) {
            thread = new Thread(() -> {
                try (Connection c = ItEnv.connect(port, "")) {
                    while (running.get()) {
                        try {
                            long n = ItEnv.queryLong(c, "SELECT count(*) FROM generate_series(1, 1000)");
                            if (n != 1000) {
                                failures.add(new AssertionError("count was " + n));
                            }
                            if (ok.incrementAndGet() % 20 == 0) {
                                try (Connection fresh = ItEnv.connect(port, "")) {
                                    ItEnv.queryLong(fresh, "SELECT 1");
                                }
                            }
                            Thread.sleep(5);
                        } catch (SQLException e) {
                            failures.add(e);
                        }
                    }
                } catch (SQLException e) {
                    failures.add(e);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "it-bystander");
            thread.start();
        }

        @Override
        public void close() throws InterruptedException {
            running.set(false);
            thread.join(10_000);
        }
    }
}
