package dev.pgmemo.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pgmemo.config.ConfigException;
import dev.pgmemo.config.ConfigLoader;
import dev.pgmemo.proxy.PgmemoServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** The machine the integration tests run on: the shared PostgreSQL, the repository, free ports, pgmemo servers. */
final class ItEnv {
    static final String PG_HOST = "127.0.0.1";
    static final int PG_PORT = 5432;
    static final String DB = "test";
    static final String USER = "postgres";

    private ItEnv() {
    }

    /** A connection straight to the shared PostgreSQL, bypassing pgmemo (for setup and cross-checks). */
    static Connection direct() throws SQLException {
        return direct(DB);
    }

    static Connection direct(String database) throws SQLException {
        return DriverManager.getConnection("jdbc:postgresql://" + PG_HOST + ":" + PG_PORT + "/" + database, USER, "");
    }

    /** pgjdbc URL for pgmemo on 127.0.0.1:{@code port}; {@code params} without the leading '?', may be empty. */
    static String url(int port, String database, String params) {
        return "jdbc:postgresql://127.0.0.1:" + port + "/" + database
                + "?connectTimeout=10&socketTimeout=60" + (params == null || params.isEmpty() ? "" : "&" + params);
    }

    static Connection connect(int port, String params) throws SQLException {
        Properties props = new Properties();
        props.setProperty("user", USER);
        return DriverManager.getConnection(url(port, DB, params), props);
    }

    /** Runs a statement on a fresh direct connection. */
    static void execDirect(String sql) throws SQLException {
        try (Connection c = direct(); Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    static long queryLong(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            if (!rs.next()) {
                throw new AssertionError("no row from " + sql);
            }
            return rs.getLong(1);
        }
    }

    static String queryString(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            if (!rs.next()) {
                throw new AssertionError("no row from " + sql);
            }
            return rs.getString(1);
        }
    }

    /** A port that was free a moment ago (bind to 0, close). */
    static int freePort() {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress("127.0.0.1", 0));
            return s.getLocalPort();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static boolean accepts(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** The repository root (Failsafe runs in the integration-tests module directory). */
    static Path repoRoot() {
        Path here = Path.of("").toAbsolutePath();
        for (Path p = here; p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("bin/pgmemo")) && Files.isDirectory(p.resolve("integration-tests"))) {
                return p;
            }
        }
        throw new IllegalStateException("cannot find the repository root (with bin/pgmemo) above " + here);
    }

    /** YAML for an in-process pgmemo on ephemeral ports in front of the shared PostgreSQL, cache off. */
    static String baseYaml() {
        return """
                listen: 127.0.0.1:0
                admin:
                  listen: 127.0.0.1:0
                upstream: postgresql://127.0.0.1:5432
                cache:
                  enabled: false
                """;
    }

    static PgmemoServer startPgmemo() {
        return startPgmemo(baseYaml());
    }

    static PgmemoServer startPgmemo(String yaml) {
        try {
            return PgmemoServer.start(ConfigLoader.parse(yaml, "it-config.yaml"));
        } catch (ConfigException | IOException e) {
            throw new IllegalStateException("cannot start pgmemo with:\n" + yaml, e);
        }
    }

    /**
     * Runs {@code pg_sleep(10)} on {@code c} from another thread, waits until PostgreSQL shows it running,
     * cancels it with {@code Statement.cancel()} and checks that it ends at once with 57014 and that the
     * connection still works. {@code marker} (unique per call) finds the query in pg_stat_activity.
     */
    static void assertCancelStopsASleepingQuery(Connection c, String marker) throws Exception {
        try (Statement s = c.createStatement(); Connection watcher = direct()) {
            CompletableFuture<Throwable> outcome = CompletableFuture.supplyAsync(() -> {
                try {
                    s.execute("SELECT pg_sleep(10) /* " + marker + " */");
                    return null;
                } catch (Throwable t) {
                    return t;
                }
            }, runnable -> new Thread(runnable, "it-cancel").start());
            awaitActiveQuery(watcher, marker);
            long start = System.nanoTime();
            s.cancel();
            Throwable t = outcome.get(8, TimeUnit.SECONDS);
            long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertThat(t).isInstanceOf(SQLException.class);
            assertThat(((SQLException) t).getSQLState()).isEqualTo("57014");
            assertThat(elapsedMs).isLessThan(5_000);
            assertThat(queryLong(c, "SELECT 7")).isEqualTo(7);
        }
    }

    private static void awaitActiveQuery(Connection watcher, String marker) {
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(50)).until(() -> {
            try (PreparedStatement ps = watcher.prepareStatement("SELECT count(*) FROM pg_stat_activity"
                    + " WHERE state = 'active' AND query LIKE ? AND pid <> pg_backend_pid()")) {
                ps.setString(1, "%" + marker + "%");
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    return rs.getInt(1) == 1;
                }
            }
        });
    }
}
