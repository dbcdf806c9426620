package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.pgmemo.it.cache.CacheIt.Metrics;
import dev.pgmemo.it.cache.CacheIt.Mode;
import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.proxy.PgmemoServer;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Errors, results that came with a notice, and cursor-style fetches are never stored. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class IncompleteResultsIT {
    private static final String ID = CacheIt.uid();
    private static final String ROWS = "memo_rows_" + ID;
    private static final String NOTICE_FN = "memo_notice_fn_" + ID;
    private static final Map<Store, PgmemoServer> servers = new EnumMap<>(Store.class);

    @BeforeAll
    static void setUp() throws Exception {
        CacheIt.execDirect("CREATE TABLE " + ROWS + " (i int PRIMARY KEY)",
                "INSERT INTO " + ROWS + " SELECT generate_series(1, 100)",
                // IMMUTABLE, so that only the notice keeps its result out of the cache.
                "CREATE FUNCTION " + NOTICE_FN + "(x int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$"
                        + " BEGIN RAISE NOTICE 'notice from %', x; RETURN x; END $$");
        for (Store s : Store.values()) {
            servers.put(s, CacheIt.start(s));
        }
    }

    @AfterAll
    static void tearDown() throws Exception {
        servers.values().forEach(PgmemoServer::close);
        CacheIt.execDirect("DROP FUNCTION IF EXISTS " + NOTICE_FN + "(int)", "DROP TABLE IF EXISTS " + ROWS);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dev.pgmemo.it.cache.CacheIt#modesAndStores")
    void anErrorIsReturnedEveryTime(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        try (Connection c = CacheIt.connect(pgmemo, mode)) {
            Metrics m0 = CacheIt.settledMetrics(pgmemo, c);
            for (int i = 0; i < 3; i++) {
                SQLException e = catchThrowableOfType(SQLException.class, () -> CacheIt.one(c, "SELECT 1/0"));
                assertThat((Throwable) e).as("attempt %d", i + 1).isNotNull();
                assertThat(e.getSQLState()).isEqualTo("22012");
            }
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(m1.hits() - m0.hits()).as("%s", m1.since(m0)).isZero();
            // At least one attempt went through the cache path (a store hiccup may bypass the others).
            assertThat(m1.notStored("error") - m0.notStored("error")).as("%s", m1.since(m0)).isPositive();
            assertThat(CacheIt.one(c, "SELECT 2 + 2")).as("the session is usable").isEqualTo("4");
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dev.pgmemo.it.cache.CacheIt#modesAndStores")
    void aResultThatRaisedANoticeIsNotCached(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        String sql = "SELECT " + NOTICE_FN + "(?)";
        try (Connection c = CacheIt.connect(pgmemo, mode)) {
            Metrics m0 = CacheIt.settledMetrics(pgmemo, c);
            for (int i = 0; i < 3; i++) {
                try (PreparedStatement ps = c.prepareStatement(sql)) {
                    ps.setInt(1, 7);
                    try (ResultSet rs = ps.executeQuery()) {
                        assertThat(rs.next()).isTrue();
                        assertThat(rs.getInt(1)).isEqualTo(7);
                    }
                    SQLWarning w = ps.getWarnings();
                    // In the extended protocol PostgreSQL raises this notice at Bind, while planning (it folds
                    // the IMMUTABLE call): between ParseComplete and BindComplete, before the Execute's result.
                    assertThat((Throwable) w).as("execution %d carries the notice", i + 1).isNotNull();
                    assertThat(w.getMessage()).contains("notice from 7");
                }
            }
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(m1.hits() - m0.hits()).as("%s", m1.since(m0)).isZero();
            assertThat(m1.notStored("notice") - m0.notStored("notice")).as("%s", m1.since(m0)).isEqualTo(3);
        }
    }

    /** Simple-query mode has no cursors: pgjdbc reads the whole result whatever the fetch size. */
    static Stream<Arguments> extendedModesAndStores() {
        List<Arguments> out = new ArrayList<>();
        CacheIt.modesAndStores().filter(a -> a.get()[0] != Mode.SIMPLE).forEach(out::add);
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("extendedModesAndStores")
    void aCursorFetchReturnsEveryRowAndIsNotStored(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        String sql = "SELECT i FROM " + ROWS + " WHERE i > ? ORDER BY i";
        try (Connection c = CacheIt.connect(pgmemo, mode)) {
            Metrics m0 = CacheIt.settledMetrics(pgmemo, c);
            c.setAutoCommit(false);
            for (int round = 0; round < 2; round++) {
                try (PreparedStatement ps = c.prepareStatement(sql)) {
                    ps.setFetchSize(10);
                    ps.setInt(1, 0);
                    List<Integer> got = new ArrayList<>();
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            got.add(rs.getInt(1));
                        }
                    }
                    assertThat(got).as("round %d", round).hasSize(100 + round);
                    for (int i = 0; i < got.size(); i++) {
                        assertThat(got.get(i)).isEqualTo(i + 1);
                    }
                }
                c.commit();
                if (round == 0) {
                    CacheIt.execDirect("INSERT INTO " + ROWS + " VALUES (101)");
                }
            }
            c.setAutoCommit(true);
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(m1.stores() - m0.stores()).as("%s", m1.since(m0)).isZero();
            assertThat(m1.hits() - m0.hits()).as("%s", m1.since(m0)).isZero();
            assertThat(m1.bypasses("row_limit") - m0.bypasses("row_limit")).as("%s", m1.since(m0)).isGreaterThanOrEqualTo(2);
        } finally {
            CacheIt.execDirect("DELETE FROM " + ROWS + " WHERE i > 100");
        }
    }
}
