package dev.pgmemo.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import dev.pgmemo.proxy.PgmemoServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** What clients see when PostgreSQL cannot be reached, refuses, or goes away mid-session. */
@ExtendWith(LeakWatch.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class UpstreamDownIT {

    private static PgmemoServer pgmemoInFrontOf(int upstreamPort) {
        return ItEnv.startPgmemo(ItEnv.baseYaml().replace("postgresql://127.0.0.1:5432",
                "postgresql://127.0.0.1:" + upstreamPort) + "connect_timeout: 3s\n");
    }

    @Test
    void closedUpstreamPortGivesAConnectionErrorNamingTheUpstream() {
        int deadPort = ItEnv.freePort();
        PgmemoServer pgmemo = pgmemoInFrontOf(deadPort);
        try {
            double errorsBefore = AdminHttp.metric(pgmemo.adminPort(), "pgmemo_upstream_connect_errors_total", null);
            for (int attempt = 0; attempt < 2; attempt++) {
                long start = System.nanoTime();
                SQLException e = catchThrowableOfType(SQLException.class,
                        () -> ItEnv.connect(pgmemo.port(), "").close());
                assertThat((Throwable) e).isNotNull();
                assertThat(e.getSQLState()).startsWith("08");
                assertThat(e.getMessage()).contains("127.0.0.1:" + deadPort);
                assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isLessThan(5_000);
            }
            assertThat(AdminHttp.metric(pgmemo.adminPort(), "pgmemo_upstream_connect_errors_total", null))
                    .isEqualTo(errorsBefore + 2);

            Cmd.Result psql = Cmd.run(Duration.ofSeconds(30), "psql", "-X", "-h", "127.0.0.1", "-p",
                    String.valueOf(pgmemo.port()), "-U", ItEnv.USER, "-d", ItEnv.DB, "-c", "SELECT 1");
            assertThat(psql.exitCode()).as(psql.describe()).isEqualTo(2);
            assertThat(psql.stderr()).contains("127.0.0.1:" + deadPort);

            // pgmemo itself stays up and healthy.
            assertThat(AdminHttp.get(pgmemo.adminPort(), "/health").statusCode()).isEqualTo(200);
            await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(
                    AdminHttp.metric(pgmemo.adminPort(), "pgmemo_client_connections_open", null)).isZero());
        } finally {
            pgmemo.stop(Duration.ofSeconds(2));
        }
    }

    @Test
    void upstreamThatHangsUpAtOnceFailsTheClientQuickly() throws Exception {
        AtomicInteger accepted = new AtomicInteger();
        try (ServerSocket rude = new ServerSocket()) {
            rude.bind(new InetSocketAddress("127.0.0.1", 0));
            Thread acceptor = new Thread(() -> {
                while (!rude.isClosed()) {
                    try (Socket s = rude.accept()) {
                        accepted.incrementAndGet();
                    } catch (IOException e) {
                        return;
                    }
                }
            }, "it-rude-upstream");
            acceptor.setDaemon(true);
            acceptor.start();
            PgmemoServer pgmemo = pgmemoInFrontOf(rude.getLocalPort());
            try {
                long start = System.nanoTime();
                SQLException e = catchThrowableOfType(SQLException.class,
                        () -> ItEnv.connect(pgmemo.port(), "").close());
                assertThat((Throwable) e).isNotNull();
                assertThat(e.getSQLState()).startsWith("08");
                assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isLessThan(5_000);
                assertThat(accepted.get()).isEqualTo(1);
                await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(
                        AdminHttp.metric(pgmemo.adminPort(), "pgmemo_client_connections_open", null)).isZero());
            } finally {
                pgmemo.stop(Duration.ofSeconds(2));
            }
        }
    }

    @Test
    void backendTerminatedMidSessionIsReportedToTheClient() throws SQLException {
        PgmemoServer pgmemo = pgmemoInFrontOf(ItEnv.PG_PORT);
        try (Connection c = ItEnv.connect(pgmemo.port(), ""); Connection d = ItEnv.direct()) {
            int pid = c.unwrap(org.postgresql.PGConnection.class).getBackendPID();
            assertThat(ItEnv.queryLong(c, "SELECT 1")).isEqualTo(1);
            assertThat(ItEnv.queryString(d, "SELECT pg_terminate_backend(" + pid + ")::text")).isEqualTo("true");
            await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(
                    ItEnv.queryLong(d, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid)).isZero());

            SQLException e = catchThrowableOfType(SQLException.class, () -> ItEnv.queryLong(c, "SELECT 2"));
            assertThat((Throwable) e).isNotNull();
            assertThat(e.getSQLState()).isIn(List.of("57P01", "08006"));
            assertThat(c.isValid(2)).isFalse();
            await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(
                    AdminHttp.metric(pgmemo.adminPort(), "pgmemo_client_connections_open", null)).isZero());
        } finally {
            pgmemo.stop(Duration.ofSeconds(2));
        }
    }
}
