package dev.pgmemo.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.pgmemo.proxy.PgmemoServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * pgmemo in front of PostgreSQL's Unix-domain socket ({@code upstream: postgresql://?host=/dir}), on every
 * socket transport: sessions, large results, cancel requests and the cache all go over the socket, and a
 * socket that is not there is reported to the client by its path.
 */
@ExtendWith(LeakWatch.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class UnixSocketUpstreamIT {

    private static String upstream;

    @BeforeAll
    static void findTheSocket() throws SQLException {
        try (Connection c = ItEnv.direct()) {
            String dirs = ItEnv.queryString(c, "SHOW unix_socket_directories");
            int port = (int) ItEnv.queryLong(c, "SELECT setting::int FROM pg_settings WHERE name = 'port'");
            Path socketDir = Path.of(dirs.split(",")[0].trim());
            assertThat(socketDir.resolve(".s.PGSQL." + port))
                    .as("the shared PostgreSQL's socket (unix_socket_directories = %s)", dirs).exists();
            upstream = "postgresql://?host=" + socketDir + "&port=" + port;
        }
    }

    /** pgmemo on {@code transport} (or the fallback this kernel allows) with the in-process cache. */
    private static PgmemoServer startOn(String transport, String upstreamUrl) {
        return Transports.startOn(transport, () -> ItEnv.startPgmemo(ItEnv.baseYaml()
                .replace("upstream: postgresql://127.0.0.1:5432", "upstream: \"" + upstreamUrl + "\"")
                .replace("  enabled: false\n", "  default_ttl: 60s\n") + "connect_timeout: 3s\n"));
    }

    @ParameterizedTest
    @MethodSource("dev.pgmemo.it.Transports#all")
    void relaysCachesAndCancelsOverTheSocket(String transport) throws Exception {
        try (PgmemoServer pgmemo = startOn(transport, upstream)) {
            assertThat(pgmemo.transportName()).isEqualTo(Transports.expected(transport));
            sessionsReachPostgresThroughTheSocket(pgmemo);
            cachedReadsAndWritesWorkOverTheSocket(pgmemo);
            largeResultsPassThrough(pgmemo);
            cancelRequestsGoOverTheSocket(pgmemo);
        }
    }

    private static void sessionsReachPostgresThroughTheSocket(PgmemoServer pgmemo) throws SQLException {
        try (Connection c = ItEnv.connect(pgmemo.port(), "");
             Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT inet_client_addr() IS NULL, current_user, pg_backend_pid()")) {
            assertThat(rs.next()).isTrue();
            // A backend serving a Unix-domain socket has no client address.
            assertThat(rs.getBoolean(1)).as("backend connected over the Unix socket").isTrue();
            assertThat(rs.getString(2)).isEqualTo(ItEnv.USER);
            int backend = rs.getInt(3);
            try (Connection direct = ItEnv.direct()) {
                assertThat(ItEnv.queryString(direct, "SELECT coalesce(client_addr::text, 'local') FROM"
                        + " pg_stat_activity WHERE pid = " + backend)).isEqualTo("local");
            }
        }
    }

    private static void cachedReadsAndWritesWorkOverTheSocket(PgmemoServer pgmemo) throws SQLException {
        ItEnv.execDirect("DROP TABLE IF EXISTS it_unix_upstream");
        ItEnv.execDirect("CREATE TABLE it_unix_upstream (id int PRIMARY KEY, v text)");
        ItEnv.execDirect("INSERT INTO it_unix_upstream VALUES (1, 'one')");
        try (Connection c = ItEnv.connect(pgmemo.port(), "prepareThreshold=1")) {
            double hitsBefore = AdminHttp.metric(pgmemo.adminPort(), "pgmemo_cache_hits_total", null);
            assertThat(read(c)).isEqualTo("one");
            assertThat(read(c)).isEqualTo("one");
            assertThat(AdminHttp.metric(pgmemo.adminPort(), "pgmemo_cache_hits_total", null))
                    .isEqualTo(hitsBefore + 1);
            try (Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE it_unix_upstream SET v = 'uno' WHERE id = 1");
            }
            assertThat(read(c)).isEqualTo("uno");
        } finally {
            ItEnv.execDirect("DROP TABLE IF EXISTS it_unix_upstream");
        }
    }

    private static String read(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT v FROM it_unix_upstream WHERE id = ?")) {
            ps.setInt(1, 1);
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).isTrue();
                return rs.getString(1);
            }
        }
    }

    private static void largeResultsPassThrough(PgmemoServer pgmemo) throws SQLException {
        try (Connection c = ItEnv.connect(pgmemo.port(), "")) {
            Transports.assertLargeResultArrivesWhole(c);
        }
    }

    private static void cancelRequestsGoOverTheSocket(PgmemoServer pgmemo) throws Exception {
        try (Connection c = ItEnv.connect(pgmemo.port(), "")) {
            ItEnv.assertCancelStopsASleepingQuery(c, "it_unix_cancel");
        }
    }

    @ParameterizedTest
    @MethodSource("dev.pgmemo.it.Transports#all")
    void aMissingSocketIsReportedToTheClientByItsPath(String transport) throws Exception {
        Path empty = Files.createTempDirectory("pgmemo-no-pg");
        PgmemoServer lost = startOn(transport, "postgresql://?host=" + empty);
        try {
            SQLException e = catchThrowableOfType(SQLException.class, () -> ItEnv.connect(lost.port(), "").close());
            assertThat((Throwable) e).isNotNull();
            assertThat(e.getSQLState()).startsWith("08");
            assertThat(e.getMessage()).contains(empty.resolve(".s.PGSQL.5432") + ": no such socket");
            assertThat(AdminHttp.get(lost.adminPort(), "/health").statusCode()).isEqualTo(200);
            assertThat(AdminHttp.get(lost.adminPort(), "/status").body())
                    .contains("\"upstream\":\"" + empty.resolve(".s.PGSQL.5432") + "\"");
        } finally {
            lost.stop(Duration.ofSeconds(2));
            Files.deleteIfExists(empty);
        }
    }
}
