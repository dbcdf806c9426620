package dev.pgmemo.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import dev.pgmemo.proxy.PgmemoServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.postgresql.PGConnection;

/**
 * How sessions begin and end: pipelined startup, half-closed and vanished clients, Terminate, and the
 * graceful drain of an in-process pgmemo (in-flight queries finish; the drain timeout ends the rest).
 * Where PostgreSQL's own behaviour is the reference, the same exchange is run against it first.
 */
@ExtendWith(LeakWatch.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SessionLifecycleIT {
    private static PgmemoServer pgmemo;

    @BeforeAll
    static void startPgmemo() throws SQLException {
        pgmemo = ItEnv.startPgmemo();
        ItEnv.execDirect("DROP TABLE IF EXISTS it_lifecycle");
        ItEnv.execDirect("CREATE TABLE it_lifecycle (id int)");
    }

    @AfterAll
    static void stopPgmemo() throws SQLException {
        if (pgmemo != null) {
            pgmemo.stop(Duration.ofSeconds(5));
        }
        ItEnv.execDirect("DROP TABLE IF EXISTS it_lifecycle");
    }

    private static void awaitBackendGone(int pid) throws SQLException {
        try (Connection d = ItEnv.direct()) {
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(50)).until(() ->
                    ItEnv.queryLong(d, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid) == 0);
        }
    }

    // ---- the client's side of the connection ---------------------------------------------------------------

    @Test
    void startupPipelinedWithAQueryIsAnsweredLikePostgres() throws IOException {
        // With trust auth a client may send StartupMessage, Query and Terminate in one write; PostgreSQL
        // reads the Query once authentication is done.
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        all.writeBytes(RawPgClient.startupMessage(ItEnv.USER, ItEnv.DB));
        all.writeBytes(RawPgClient.query("SELECT 'pipelined-42'"));
        all.writeBytes(RawPgClient.terminate());
        for (int port : new int[] {ItEnv.PG_PORT, pgmemo.port()}) {
            try (RawPgClient c = new RawPgClient(port)) {
                c.socket.setSoTimeout(5000);
                c.send(all.toByteArray());
                List<RawPgClient.Message> got;
                try {
                    got = c.readUntilClosed();
                } catch (AssertionError e) {
                    throw new AssertionError((port == ItEnv.PG_PORT ? "PostgreSQL" : "pgmemo") + " on port " + port
                            + ": " + e.getMessage(), e);
                }
                assertThat(RawPgClient.firstColumnValues(got)).as("port " + port + " (PostgreSQL is " + ItEnv.PG_PORT + "): " + got)
                        .containsExactly("pipelined-42");
            }
        }
    }

    @Test
    void queryFollowedByHalfCloseIsStillAnsweredLikePostgres() throws IOException {
        // PostgreSQL executes what it has read and sends the results before it notices the EOF.
        for (int port : new int[] {ItEnv.PG_PORT, pgmemo.port()}) {
            try (RawPgClient c = new RawPgClient(port)) {
                c.startup(ItEnv.USER, ItEnv.DB);
                c.send(RawPgClient.query("SELECT pg_sleep(0.3), 'half-closed'"));
                c.socket.shutdownOutput();
                List<RawPgClient.Message> got = c.readUntilClosed();
                assertThat(got).as("port " + port + " (PostgreSQL is " + ItEnv.PG_PORT + ")").extracting(RawPgClient.Message::type).containsExactly('T', 'D', 'C', 'Z');
            }
        }
    }

    @Test
    void terminateReleasesTheBackend() throws Exception {
        int pid;
        try (RawPgClient c = new RawPgClient(pgmemo.port())) {
            c.startup(ItEnv.USER, ItEnv.DB);
            pid = c.backendPid;
            c.send(RawPgClient.terminate());
            assertThat(c.readUntilClosed()).isEmpty();
        }
        awaitBackendGone(pid);
    }

    @Test
    void vanishedClientReleasesTheBackend() throws Exception {
        int pid;
        RawPgClient c = new RawPgClient(pgmemo.port());
        c.startup(ItEnv.USER, ItEnv.DB);
        pid = c.backendPid;
        c.socket.setSoLinger(true, 0);   // close with a RST, as a crashed client would
        c.close();
        awaitBackendGone(pid);
    }

    @Test
    void clientLeavingDuringAStalledLargeResultReleasesTheBackend() throws Exception {
        int pid;
        RawPgClient c = new RawPgClient(pgmemo.port());
        c.startup(ItEnv.USER, ItEnv.DB);
        pid = c.backendPid;
        c.send(RawPgClient.query("SELECT repeat('z', 1000) FROM generate_series(1, 200000)"));
        for (int i = 0; i < 100; i++) {
            c.skip();
        }
        try (Connection d = ItEnv.direct()) {
            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(100)).until(() -> ItEnv.queryString(d,
                    "SELECT coalesce(wait_event, '') FROM pg_stat_activity WHERE pid = " + pid).equals("ClientWrite"));
        }
        c.socket.setSoLinger(true, 0);
        c.close();
        awaitBackendGone(pid);
    }

    // ---- graceful drain ------------------------------------------------------------------------------------

    @Test
    void drainLetsAnInFlightQueryFinishThenClosesTheSession() throws Exception {
        PgmemoServer draining = ItEnv.startPgmemo();
        try (Connection c = ItEnv.connect(draining.port(), ""); Connection d = ItEnv.direct()) {
            CompletableFuture<String> result = CompletableFuture.supplyAsync(() -> {
                try {
                    return ItEnv.queryString(c, "SELECT 'finished-' || pg_sleep(1.5)::text /* it_drain_inflight */");
                } catch (SQLException e) {
                    return "failed: " + e;
                }
            }, r -> new Thread(r, "it-inflight").start());
            await().atMost(Duration.ofSeconds(10)).until(() -> ItEnv.queryLong(d, "SELECT count(*) FROM pg_stat_activity"
                    + " WHERE state = 'active' AND query LIKE '%it_drain_inflight%' AND pid <> pg_backend_pid()") == 1);

            long start = System.nanoTime();
            draining.stop(Duration.ofSeconds(20));
            long stopMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);

            assertThat(result.get(5, TimeUnit.SECONDS)).isEqualTo("finished-");
            assertThat(stopMs).as("stop returns once the only session is done").isLessThan(10_000);
            SQLException after = catchThrowableOfType(SQLException.class, () -> ItEnv.queryLong(c, "SELECT 1"));
            assertThat((Throwable) after).isNotNull();
        } finally {
            draining.stop(Duration.ZERO);
        }
    }

    @Test
    void drainTimeoutEndsAnUnfinishedTransactionAndRollsItBack() throws Exception {
        PgmemoServer draining = ItEnv.startPgmemo();
        int pid;
        try (Connection c = ItEnv.connect(draining.port(), "")) {
            pid = c.unwrap(PGConnection.class).getBackendPID();
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.executeUpdate("INSERT INTO it_lifecycle VALUES (99)");
            }
            long start = System.nanoTime();
            draining.stop(Duration.ofSeconds(1));
            long stopMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertThat(stopMs).isBetween(900L, 8_000L);

            SQLException e = catchThrowableOfType(SQLException.class, () -> {
                try (Statement s = c.createStatement()) {
                    s.executeUpdate("INSERT INTO it_lifecycle VALUES (100)");
                }
                c.commit();
            });
            assertThat((Throwable) e).isNotNull();
            assertThat(e.getSQLState()).matches("57P01|08.*");
        } finally {
            draining.stop(Duration.ZERO);
        }
        awaitBackendGone(pid);
        try (Connection d = ItEnv.direct()) {
            assertThat(ItEnv.queryLong(d, "SELECT count(*) FROM it_lifecycle WHERE id IN (99, 100)")).isZero();
        }
    }
}
