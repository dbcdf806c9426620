package dev.pgmemo.it.cache;

import dev.pgmemo.config.ConfigException;
import dev.pgmemo.config.ConfigLoader;
import dev.pgmemo.config.PgmemoConfig;
import dev.pgmemo.proxy.PgmemoServer;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.params.provider.Arguments;

/**
 * What the caching integration tests share: pgjdbc's query modes, the two stores, pgmemo servers started
 * in this JVM, connections (through pgmemo and straight to PostgreSQL), unique names and /metrics.
 */
final class CacheIt {
    static final String PG_URL = "jdbc:postgresql://127.0.0.1:5432/test";
    static final String USER = "postgres";
    static final String REDIS = "redis://127.0.0.1:6379";

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private CacheIt() {
    }

    /** pgjdbc's ways of sending a query. */
    enum Mode {
        /** Simple Query messages; parameters are interpolated by pgjdbc. */
        SIMPLE("preferQueryMode=simple"),
        /** Extended protocol, unnamed statements for the first four executions (prepareThreshold=5). */
        EXTENDED(""),
        /** Extended protocol, never a named statement. */
        UNNAMED("prepareThreshold=0"),
        /** A named server-side statement from the first execution, text results. */
        SERVER_PREPARED("prepareThreshold=1&binaryTransfer=false"),
        /** prepareThreshold=-1 forces a named statement and binary results from the first execution. */
        BINARY("prepareThreshold=-1&binaryTransfer=true");

        final String params;

        Mode(String params) {
            this.params = params;
        }
    }

    /** Where pgmemo keeps results. */
    enum Store {
        REDIS, MEMORY;

        String yamlLine() {
            return this == REDIS ? "  store: " + CacheIt.REDIS + "\n" : "";
        }
    }

    /** Every (mode, store) pair, for {@code @MethodSource}. */
    static Stream<Arguments> modesAndStores() {
        List<Arguments> out = new ArrayList<>();
        for (Store s : Store.values()) {
            for (Mode m : Mode.values()) {
                out.add(Arguments.of(m, s));
            }
        }
        return out.stream();
    }

    /** A short random id to keep table names (and so cache keys and tokens in the shared Redis) unique per run. */
    static String uid() {
        return UUID.randomUUID().toString().replace("-", "").substring(0, 10);
    }

    /** pgmemo YAML on ephemeral ports with the given store, default TTL 60s, and {@code rules} (YAML list items, may be empty). */
    static String yaml(Store store, String rules) {
        return "listen: 127.0.0.1:0\n"
                + "admin:\n  listen: 127.0.0.1:0\n"
                + "upstream: postgresql://127.0.0.1:5432\n"
                + "drain_timeout: 0s\n"
                + "cache:\n" + store.yamlLine() + "  default_ttl: 60s\n"
                // The default 200ms fails open (a miss) on a loaded test machine, and these tests need the cache.
                + "  store_timeout: 3s\n"
                + (rules == null || rules.isBlank() ? "" : "rules:\n" + rules);
    }

    static PgmemoServer start(Store store) {
        return start(yaml(store, ""));
    }

    static PgmemoServer start(String yaml) {
        try {
            return PgmemoServer.start(ConfigLoader.parse(yaml, "cache-it.yaml"));
        } catch (ConfigException | IOException e) {
            throw new IllegalStateException("cannot start pgmemo with:\n" + yaml, e);
        }
    }

    /** Starts pgmemo from a file, so that POST /reload re-reads it. */
    static PgmemoServer startFromFile(Path file) {
        try {
            PgmemoConfig config = ConfigLoader.load(file);
            return PgmemoServer.start(config);
        } catch (ConfigException | IOException e) {
            throw new IllegalStateException("cannot start pgmemo from " + file, e);
        }
    }

    /** A connection straight to PostgreSQL, bypassing pgmemo. */
    static Connection direct() throws SQLException {
        return DriverManager.getConnection(PG_URL, USER, "");
    }

    private static Connection sharedDirect;

    /** One direct connection kept for setup and cross-checks (opening one per statement is slow on a busy machine). */
    private static synchronized Connection sharedDirect() throws SQLException {
        if (sharedDirect == null || sharedDirect.isClosed()) {
            sharedDirect = direct();
        }
        return sharedDirect;
    }

    /** Runs statements straight on PostgreSQL (autocommit), bypassing pgmemo. */
    static synchronized void execDirect(String... sql) throws SQLException {
        try (Statement s = sharedDirect().createStatement()) {
            for (String q : sql) {
                s.execute(q);
            }
        }
    }

    /** A pgjdbc connection through {@code server} in {@code mode}. */
    static Connection connect(PgmemoServer server, Mode mode) throws SQLException {
        Properties props = new Properties();
        props.setProperty("user", USER);
        String url = "jdbc:postgresql://127.0.0.1:" + server.port() + "/test?connectTimeout=10&socketTimeout=60"
                + (mode.params.isEmpty() ? "" : "&" + mode.params);
        return DriverManager.getConnection(url, props);
    }

    /** Runs a one-row, one-column query as a PreparedStatement with {@code params} (Integer, Long or String). */
    static String one(Connection c, String sql, Object... params) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            bind(ps, params);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    throw new AssertionError("no row from " + sql);
                }
                String v = rs.getString(1);
                if (rs.next()) {
                    throw new AssertionError("more than one row from " + sql);
                }
                return v;
            }
        }
    }

    /**
     * Inserts row {@code k} of {@code table} ({@code k text PRIMARY KEY, v int}) with v = 1 and reads it twice
     * through {@code pgmemo} (server-prepared): the second read must be a hit. Then an UPDATE through another
     * connection (simple protocol), and the next read must see it.
     */
    static void assertHitThenInvalidation(PgmemoServer pgmemo, String table, String k) throws SQLException {
        String read = "SELECT v FROM " + table + " WHERE k = ?";
        execDirect("INSERT INTO " + table + " VALUES ('" + k + "', 1)");
        try (Connection c = connect(pgmemo, Mode.SERVER_PREPARED); Connection other = connect(pgmemo, Mode.SIMPLE)) {
            Metrics m0 = settledMetrics(pgmemo, c);
            org.assertj.core.api.Assertions.assertThat(one(c, read, k)).isEqualTo("1");
            org.assertj.core.api.Assertions.assertThat(one(c, read, k)).isEqualTo("1");
            Metrics m1 = metrics(pgmemo, c);
            org.assertj.core.api.Assertions.assertThat(m1.hits() - m0.hits())
                    .as("the repeated read is a hit: %s", m1.since(m0)).isEqualTo(1);
            org.assertj.core.api.Assertions.assertThat(update(other, "UPDATE " + table + " SET v = 2 WHERE k = ?", k))
                    .isEqualTo(1);
            org.assertj.core.api.Assertions.assertThat(one(c, read, k)).as("read after a write through pgmemo")
                    .isEqualTo("2");
        }
    }

    static int update(Connection c, String sql, Object... params) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            bind(ps, params);
            return ps.executeUpdate();
        }
    }

    private static void bind(PreparedStatement ps, Object... params) throws SQLException {
        for (int i = 0; i < params.length; i++) {
            Object p = params[i];
            if (p instanceof Integer n) {
                ps.setInt(i + 1, n);
            } else if (p instanceof Long n) {
                ps.setLong(i + 1, n);
            } else if (p instanceof String s) {
                ps.setString(i + 1, s);
            } else {
                throw new IllegalArgumentException("unsupported parameter " + p);
            }
        }
    }

    /** All rows of {@code sql} (a PreparedStatement), each as its columns joined with '|'. */
    static List<String> rows(Connection c, String sql, Object... params) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            bind(ps, params);
            try (ResultSet rs = ps.executeQuery()) {
                List<String> out = new ArrayList<>();
                int n = rs.getMetaData().getColumnCount();
                while (rs.next()) {
                    StringBuilder row = new StringBuilder();
                    for (int i = 1; i <= n; i++) {
                        row.append(i > 1 ? "|" : "").append(rs.getString(i));
                    }
                    out.add(row.toString());
                }
                return out;
            }
        }
    }

    static synchronized List<String> rowsDirect(String sql, Object... params) throws SQLException {
        return rows(sharedDirect(), sql, params);
    }

    /**
     * Reads {@code sql} three times through {@code server} and fails unless at least one read was a hit:
     * the result is then in the cache for the request shapes this connection sends from now on (with
     * prepareThreshold=1 pgjdbc describes the portal only on the first execution, a different request).
     */
    static List<String> warm(PgmemoServer server, Connection c, String sql, Object... params) throws SQLException {
        Metrics before = metrics(server);
        List<String> first = rows(c, sql, params);
        for (int i = 0; i < 2; i++) {
            List<String> again = rows(c, sql, params);
            if (!again.equals(first)) {
                throw new AssertionError("warming " + sql + ": read " + first + " then " + again);
            }
        }
        Metrics after = metrics(server, c);
        if (after.hits() <= before.hits()) {
            throw new AssertionError("three identical reads of " + sql + " gave no cache hit: " + after.since(before));
        }
        return first;
    }

    static synchronized String oneDirect(String sql, Object... params) throws SQLException {
        return one(sharedDirect(), sql, params);
    }

    // ---- admin HTTP ----------------------------------------------------------------------------------------

    record HttpResult(int status, String body) {
    }

    static HttpResult post(PgmemoServer server, String pathAndQuery) {
        try {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(
                            URI.create("http://127.0.0.1:" + server.adminPort() + pathAndQuery))
                    .timeout(Duration.ofSeconds(15)).POST(HttpRequest.BodyPublishers.noBody()).build(),
                    HttpResponse.BodyHandlers.ofString());
            return new HttpResult(r.statusCode(), r.body());
        } catch (IOException e) {
            throw new IllegalStateException("admin endpoint did not answer POST " + pathAndQuery, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** POST /invalidate?table=T, as {@code pgmemo invalidate --table T} does; fails unless answered 200. */
    static void invalidateTable(PgmemoServer server, String table) {
        HttpResult r = post(server, "/invalidate?table=" + table);
        if (r.status() != 200) {
            throw new AssertionError("POST /invalidate?table=" + table + " answered " + r.status() + ": " + r.body());
        }
    }

    static void invalidateAll(PgmemoServer server) {
        HttpResult r = post(server, "/invalidate?all=1");
        if (r.status() != 200) {
            throw new AssertionError("POST /invalidate?all=1 answered " + r.status() + ": " + r.body());
        }
    }

    /**
     * One scrape of /metrics after a round trip on {@code c}: pgmemo counts an extended-protocol hit just
     * after writing the answer, so a scrape right after a read may come too early; once a later request on
     * the same session has been answered, that session's counting is done.
     */
    static Metrics metrics(PgmemoServer server, Connection c) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute("SHOW TimeZone");
        }
        return metrics(server);
    }

    /**
     * A baseline for exact counts: like {@link #metrics(PgmemoServer, Connection)}, then scraped again until
     * two scrapes 30 ms apart agree, so that a hit still being counted for an earlier test's session (on
     * another event loop) does not land inside the measured window.
     */
    static Metrics settledMetrics(PgmemoServer server, Connection c) throws SQLException {
        Metrics last = metrics(server, c);
        for (int i = 0; i < 30; i++) {
            try {
                Thread.sleep(30);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            Metrics now = metrics(server);
            if (now.hits() == last.hits() && now.misses() == last.misses() && now.stores() == last.stores()
                    && now.bypasses() == last.bypasses()) {
                return now;
            }
            last = now;
        }
        return last;
    }

    /** One scrape of /metrics. */
    static Metrics metrics(PgmemoServer server) {
        try {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(
                            URI.create("http://127.0.0.1:" + server.adminPort() + "/metrics"))
                    .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                throw new IllegalStateException("/metrics answered " + r.statusCode());
            }
            return Metrics.parse(r.body());
        } catch (IOException e) {
            throw new IllegalStateException("admin endpoint did not answer /metrics", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Prometheus samples by name (summed over labels) and by name plus reason label. */
    record Metrics(Map<String, Double> byName, Map<String, Double> byNameAndReason) {
        private static final Pattern SAMPLE = Pattern.compile(
                "(?m)^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{([^}]*)})? ([-+0-9.eE]+|NaN)$");
        private static final Pattern REASON = Pattern.compile("reason=\"([^\"]*)\"");

        static Metrics parse(String text) {
            Map<String, Double> names = new HashMap<>();
            Map<String, Double> reasons = new HashMap<>();
            Matcher m = SAMPLE.matcher(text);
            while (m.find()) {
                double v = Double.parseDouble(m.group(4));
                names.merge(m.group(1), v, Double::sum);
                if (m.group(3) != null) {
                    Matcher r = REASON.matcher(m.group(3));
                    if (r.find()) {
                        reasons.merge(m.group(1) + "/" + r.group(1), v, Double::sum);
                    }
                }
            }
            return new Metrics(names, reasons);
        }

        long hits() {
            return get("pgmemo_cache_hits_total");
        }

        long misses() {
            return get("pgmemo_cache_misses_total");
        }

        long stores() {
            return get("pgmemo_cache_stores_total");
        }

        long bypasses() {
            return get("pgmemo_cache_bypasses_total");
        }

        long bypasses(String reason) {
            return Math.round(byNameAndReason.getOrDefault("pgmemo_cache_bypasses_total/" + reason, 0.0));
        }

        long notStored(String reason) {
            return Math.round(byNameAndReason.getOrDefault("pgmemo_cache_not_stored_total/" + reason, 0.0));
        }

        long get(String name) {
            return Math.round(byName.getOrDefault(name, 0.0));
        }

        /** The difference of the usual cache counters since {@code before}, for failure messages. */
        String since(Metrics before) {
            StringBuilder reasons = new StringBuilder();
            byNameAndReason.forEach((k, v) -> {
                long d = Math.round(v - before.byNameAndReason.getOrDefault(k, 0.0));
                if (d != 0) {
                    reasons.append(reasons.length() == 0 ? " (" : ", ").append(k.replace("pgmemo_cache_", ""))
                            .append(" +").append(d);
                }
            });
            return String.format(Locale.ROOT, "hits +%d, misses +%d, stores +%d, bypasses +%d",
                    hits() - before.hits(), misses() - before.misses(), stores() - before.stores(),
                    bypasses() - before.bypasses()) + (reasons.length() == 0 ? "" : reasons + ")");
        }
    }
}
