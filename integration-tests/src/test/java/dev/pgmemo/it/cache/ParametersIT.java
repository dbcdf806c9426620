package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.it.cache.CacheIt.Metrics;
import dev.pgmemo.it.cache.CacheIt.Mode;
import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.it.cache.WireClient.Msg;
import dev.pgmemo.proxy.PgmemoServer;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.sql.Types;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/** Requests that differ only in their parameters (values, NULL, "", their types, their number) never share an entry. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ParametersIT {
    private static final String ID = CacheIt.uid();
    private static final String TABLE = "memo_params_" + ID;
    private static final Map<Store, PgmemoServer> servers = new EnumMap<>(Store.class);

    @BeforeAll
    static void setUp() throws Exception {
        CacheIt.execDirect("CREATE TABLE " + TABLE + " (k int PRIMARY KEY, v text NOT NULL)",
                "INSERT INTO " + TABLE + " SELECT i, 'value ' || i FROM generate_series(1, 5) i");
        for (Store s : Store.values()) {
            servers.put(s, CacheIt.start(s));
        }
    }

    @AfterAll
    static void tearDown() throws Exception {
        servers.values().forEach(PgmemoServer::close);
        CacheIt.execDirect("DROP TABLE IF EXISTS " + TABLE);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dev.pgmemo.it.cache.CacheIt#modesAndStores")
    void differentParameterValuesNeverShareAnEntry(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        String read = "SELECT v FROM " + TABLE + " WHERE k = ?";
        try (Connection c = CacheIt.connect(pgmemo, mode)) {
            Metrics m0 = CacheIt.metrics(pgmemo, c);
            for (int round = 0; round < 3; round++) {
                for (int k = 1; k <= 5; k++) {
                    assertThat(CacheIt.one(c, read, k)).as("round %d, k = %d", round, k).isEqualTo("value " + k);
                }
            }
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(m1.hits() - m0.hits()).as("later rounds come from cache: %s", m1.since(m0)).isGreaterThanOrEqualTo(5);
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dev.pgmemo.it.cache.CacheIt#modesAndStores")
    void nullAndEmptyStringAreDifferentParameters(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        // The table name makes the text unique to this run, so older Redis entries cannot match.
        String sql = "SELECT coalesce(?::text, 'null') FROM " + TABLE + " WHERE k = 1";
        String[] values = {null, "", "x", "null"};
        String[] expected = {"null", "", "x", "null"};
        try (Connection c = CacheIt.connect(pgmemo, mode)) {
            Metrics m0 = CacheIt.metrics(pgmemo, c);
            for (int round = 0; round < 3; round++) {
                for (int i = 0; i < values.length; i++) {
                    try (PreparedStatement ps = c.prepareStatement(sql)) {
                        if (values[i] == null) {
                            ps.setNull(1, Types.VARCHAR);
                        } else {
                            ps.setString(1, values[i]);
                        }
                        try (ResultSet rs = ps.executeQuery()) {
                            assertThat(rs.next()).isTrue();
                            assertThat(rs.getString(1)).as("round %d, parameter %s", round,
                                    values[i] == null ? "NULL" : "'" + values[i] + "'").isEqualTo(expected[i]);
                        }
                    }
                }
            }
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(m1.hits() - m0.hits()).as("later rounds come from cache: %s", m1.since(m0)).isGreaterThanOrEqualTo(4);
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dev.pgmemo.it.cache.CacheIt#modesAndStores")
    void parameterTypesAreNotShared(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        // Same text, same parameter bytes "1", different declared type: the result column type differs.
        String sql = "SELECT ? AS p FROM " + TABLE + " WHERE k = 1";
        try (Connection c = CacheIt.connect(pgmemo, mode)) {
            Metrics m0 = CacheIt.metrics(pgmemo, c);
            for (int round = 0; round < 3; round++) {
                try (PreparedStatement ps = c.prepareStatement(sql)) {
                    ps.setInt(1, 1);
                    try (ResultSet rs = ps.executeQuery()) {
                        assertThat(rs.next()).isTrue();
                        assertThat(rs.getObject(1)).as("round %d, setInt", round).isEqualTo(1);
                    }
                }
                try (PreparedStatement ps = c.prepareStatement(sql)) {
                    ps.setString(1, "1");
                    try (ResultSet rs = ps.executeQuery()) {
                        assertThat(rs.next()).isTrue();
                        assertThat(rs.getObject(1)).as("round %d, setString", round).isEqualTo("1");
                    }
                }
            }
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            if (mode != Mode.SERVER_PREPARED) {
                // With prepareThreshold=1 pgjdbc closes and re-prepares the statement whenever the parameter
                // type changes, and pgmemo sends a batch holding a Close of a prepared statement upstream.
                assertThat(m1.hits() - m0.hits()).as("later rounds come from cache: %s", m1.since(m0))
                        .isGreaterThanOrEqualTo(2);
            }
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dev.pgmemo.it.cache.CacheIt#modesAndStores")
    void literalsInTheSqlTextNeverShareAnEntry(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        try (Connection c = CacheIt.connect(pgmemo, mode); Statement s = c.createStatement()) {
            Metrics m0 = CacheIt.metrics(pgmemo, c);
            for (int round = 0; round < 3; round++) {
                for (int k = 1; k <= 3; k++) {
                    try (ResultSet rs = s.executeQuery("SELECT v FROM " + TABLE + " WHERE k = " + k)) {
                        assertThat(rs.next()).isTrue();
                        assertThat(rs.getString(1)).isEqualTo("value " + k);
                    }
                }
            }
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(m1.hits() - m0.hits()).as("later rounds come from cache: %s", m1.since(m0)).isGreaterThanOrEqualTo(3);
        }
    }

    /** pgjdbc cannot send a Bind with a parameter missing; PostgreSQL refuses it and so must pgmemo. */
    @ParameterizedTest
    @EnumSource(Store.class)
    void aMissingParameterIsNotTheSameAsNull(Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        String sql = "SELECT coalesce($1::text, 'null') FROM " + TABLE + " WHERE k = 1";
        try (WireClient c = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            for (int i = 0; i < 3; i++) {
                c.parse("", sql).bind("", "", (String) null).describePortal("").execute("").sync().flush();
                assertThat(c.readUntilReady()).filteredOn(m -> m.type() == 'D').singleElement()
                        .extracting(Msg::columns).isEqualTo(List.of("null"));
            }
            Metrics m0 = CacheIt.metrics(pgmemo);
            assertThat(m0.hits()).isPositive();

            c.parse("", sql).bind("", "").describePortal("").execute("").sync().flush();
            List<Msg> replies = c.readUntilReady();
            assertThat(replies).as("Bind without the parameter: %s", replies).filteredOn(m -> m.type() == 'E')
                    .singleElement().extracting(Msg::sqlState).isEqualTo("08P01");
            assertThat(replies).noneMatch(m -> m.type() == 'D');

            c.parse("", sql).bind("", "", "").describePortal("").execute("").sync().flush();
            assertThat(c.readUntilReady()).filteredOn(m -> m.type() == 'D').singleElement()
                    .extracting(Msg::columns).isEqualTo(List.of(""));
        }
    }
}
