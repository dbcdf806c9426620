package dev.pgmemo.it.safety;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.config.ConfigLoader;
import dev.pgmemo.proxy.PgmemoServer;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** An in-process pgmemo for one test class, with its /metrics counters. */
final class Memo implements AutoCloseable {
    /** The shared Redis; tests that break their store start their own. */
    static final String SHARED_REDIS = "redis://127.0.0.1:6379";
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    final PgmemoServer server;

    private Memo(PgmemoServer server) {
        this.server = server;
    }

    /** pgmemo in front of {@code upstreamPort}, caching in {@code storeUrl} (null: in-process store). */
    static Memo start(int upstreamPort, String storeUrl, String storeTimeout) {
        String yaml = "listen: 127.0.0.1:0\n"
                + "admin: {listen: 127.0.0.1:0}\n"
                + "upstream: postgresql://127.0.0.1:" + upstreamPort + "\n"
                + "cache:\n"
                + (storeUrl == null ? "" : "  store: " + storeUrl + "\n")
                + "  default_ttl: 60s\n"
                + "  store_timeout: " + storeTimeout + "\n";
        try {
            return new Memo(PgmemoServer.start(ConfigLoader.parse(yaml, "safety-test.yaml")));
        } catch (Exception e) {
            throw new IllegalStateException("cannot start pgmemo with:\n" + yaml, e);
        }
    }

    /** pgmemo in front of the shared PostgreSQL, caching in the shared Redis. */
    static Memo start() {
        // A generous timeout: the shared machine is often busy, and these tests are about correctness.
        Memo m = start(Sql.PG_PORT, SHARED_REDIS, "1s");
        m.awaitStoreAvailable();
        return m;
    }

    /** Waits (up to 10 s) until pgmemo reports its store usable. */
    void awaitStoreAvailable() {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (storeAvailable() < 1 && System.nanoTime() < deadline) {
            sleep(20);
        }
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    int port() {
        return server.port();
    }

    Connection connect(String database, String user, Mode mode) throws SQLException {
        return Sql.connect(port(), database, user, mode);
    }

    Connection connect(String database, Mode mode) throws SQLException {
        return connect(database, Sql.SUPERUSER, mode);
    }

    @Override
    public void close() {
        server.close();
    }

    // ---- metrics -----------------------------------------------------------------------------------------

    String metricsText() {
        try {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(
                            URI.create("http://127.0.0.1:" + server.adminPort() + "/metrics"))
                    .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as("/metrics status").isEqualTo(200);
            return r.body();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Sum of the samples of {@code name} whose labels contain {@code labels} (null: any); 0 when absent. */
    double metric(String name, String labels) {
        Pattern p = Pattern.compile("(?m)^" + Pattern.quote(name)
                + (labels == null ? "(?:\\{[^}]*})?" : "\\{[^}]*" + Pattern.quote(labels) + "[^}]*}")
                + " ([-+0-9.eE]+|NaN)$");
        Matcher m = p.matcher(metricsText());
        double sum = 0;
        while (m.find()) {
            sum += Double.parseDouble(m.group(1));
        }
        return sum;
    }

    long hits() {
        return (long) metric("pgmemo_cache_hits_total", null);
    }

    long misses() {
        return (long) metric("pgmemo_cache_misses_total", null);
    }

    long stores() {
        return (long) metric("pgmemo_cache_stores_total", null);
    }

    long bypasses(String reason) {
        return (long) metric("pgmemo_cache_bypasses_total", "reason=\"" + reason + "\"");
    }

    long notStored(String reason) {
        return (long) metric("pgmemo_cache_not_stored_total", "reason=\"" + reason + "\"");
    }

    double storeAvailable() {
        return metric("pgmemo_store_available", null);
    }

    /** Cache counters at one moment, to compare before and after. */
    record Counters(long hits, long misses, long stores) {
    }

    Counters counters() {
        String text = metricsText();
        return new Counters((long) sum(text, "pgmemo_cache_hits_total"), (long) sum(text, "pgmemo_cache_misses_total"),
                (long) sum(text, "pgmemo_cache_stores_total"));
    }

    private static double sum(String text, String name) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + "(?:\\{[^}]*})? ([-+0-9.eE]+|NaN)$").matcher(text);
        double s = 0;
        while (m.find()) {
            s += Double.parseDouble(m.group(1));
        }
        return s;
    }

    /**
     * Runs {@code sql} until pgmemo answers it from the cache (at most 4 times: the first run stores it, and a
     * named statement's first Bind may differ from later ones), failing if it never does. Returns the rows of
     * the run that was a hit.
     */
    List<String> warm(Connection c, String sql, Object... params) throws SQLException {
        List<String> first = null;
        for (int attempt = 0; attempt < 4; attempt++) {
            awaitStoreAvailable();
            Counters before = counters();
            List<String> rows = Sql.rows(c, sql, params);
            if (first == null) {
                first = rows;
            }
            assertThat(rows).as("repeated reads of %s while warming the cache", sql).isEqualTo(first);
            if (hits() > before.hits()) {
                return rows;
            }
            waitForStores(before.stores());
        }
        throw new AssertionError("pgmemo never served " + sql + " from the cache (precondition of this test)");
    }

    /**
     * Runs {@code sql} three times, giving pgmemo every chance to store and serve it, and returns the rows
     * (all runs must agree). For results that pgmemo may legitimately decline to cache.
     */
    List<String> repeat(Connection c, String sql, Object... params) throws SQLException {
        List<String> first = Sql.rows(c, sql, params);
        for (int i = 0; i < 2; i++) {
            sleep(30);
            assertThat(Sql.rows(c, sql, params)).as("repeated reads of %s", sql).isEqualTo(first);
        }
        return first;
    }

    /** Stores complete asynchronously after ReadyForQuery: waits (up to 1 s) until one more was written. */
    void waitForStores(long storesBefore) {
        long deadline = System.nanoTime() + 1_000_000_000L;
        while (stores() <= storesBefore && System.nanoTime() < deadline) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
