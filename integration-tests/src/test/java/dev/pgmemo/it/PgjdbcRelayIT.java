package dev.pgmemo.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.pgmemo.proxy.PgmemoServer;
import java.io.StringReader;
import java.io.StringWriter;
import java.math.BigDecimal;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.sql.Types;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.TimeZone;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.postgresql.copy.CopyManager;
import org.postgresql.core.BaseConnection;

/**
 * pgjdbc through pgmemo (cache off) in each of its query modes: the relay must be invisible — same values,
 * same errors, COPY, LISTEN/NOTIFY, cancel, startup parameters, ParameterStatus, notices and SCRAM.
 */
@ExtendWith(LeakWatch.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PgjdbcRelayIT {
    /** pgjdbc's ways of talking to the server. */
    enum Mode {
        SIMPLE("preferQueryMode=simple"),
        EXTENDED(""),
        SERVER_PREPARED("prepareThreshold=1&binaryTransfer=false"),
        /** prepareThreshold=-1 forces a named statement and binary results from the first execution. */
        BINARY("prepareThreshold=-1&binaryTransfer=true");

        final String params;

        Mode(String params) {
            this.params = params;
        }
    }

    private static PgmemoServer pgmemo;

    @BeforeAll
    static void startPgmemo() throws SQLException {
        pgmemo = ItEnv.startPgmemo();
        try (Connection c = ItEnv.direct(); Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS it_pgjdbc_types, it_pgjdbc_batch, it_pgjdbc_copy");
            s.execute("DROP SCHEMA IF EXISTS it_pgjdbc_schema CASCADE");
            s.execute("CREATE TABLE it_pgjdbc_types (mode text, id int, i int, t text, b bytea, ts timestamptz,"
                    + " n numeric, ia int[], ta text[], PRIMARY KEY (mode, id))");
            s.execute("CREATE TABLE it_pgjdbc_batch (mode text, id int, v text, PRIMARY KEY (mode, id))");
            s.execute("CREATE TABLE it_pgjdbc_copy (mode text, id int, v text, PRIMARY KEY (mode, id))");
            s.execute("CREATE SCHEMA it_pgjdbc_schema");
            s.execute("CREATE TABLE it_pgjdbc_schema.where_am_i AS SELECT 'in it_pgjdbc_schema'::text AS here");
        }
    }

    @AfterAll
    static void stopPgmemo() throws SQLException {
        if (pgmemo != null) {
            pgmemo.stop(Duration.ofSeconds(5));
        }
        try (Connection c = ItEnv.direct(); Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS it_pgjdbc_types, it_pgjdbc_batch, it_pgjdbc_copy");
            s.execute("DROP SCHEMA IF EXISTS it_pgjdbc_schema CASCADE");
        }
    }

    private static Connection connect(Mode mode) throws SQLException {
        return ItEnv.connect(pgmemo.port(), mode.params);
    }

    private static Connection connect(Mode mode, String extra) throws SQLException {
        return ItEnv.connect(pgmemo.port(), mode.params.isEmpty() ? extra : mode.params + "&" + extra);
    }

    // ---- values and types ---------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(Mode.class)
    void parameterizedQueriesReturnExactValues(Mode mode) throws SQLException {
        byte[] allBytes = new byte[256];
        for (int i = 0; i < allBytes.length; i++) {
            allBytes[i] = (byte) i;
        }
        try (Connection c = connect(mode);
             PreparedStatement ps = c.prepareStatement("SELECT ?::int4 + 1, ?::text || '|', ?::bytea,"
                     + " ?::timestamptz, ?::numeric * 2, ?::int4[], ?::text[], ?::int4 IS NULL")) {
            // Several executions: pgjdbc switches to a named server-side statement after prepareThreshold uses.
            for (int round = 0; round < 7; round++) {
                OffsetDateTime ts = OffsetDateTime.of(2024, 2, 29, 23, 59, 59, 123_456_000, ZoneOffset.ofHours(5))
                        .plusDays(round);
                BigDecimal n = new BigDecimal("12345678901234567890.123456789").add(BigDecimal.valueOf(round));
                String text = "héllo wörld ✓ 日本 it's \\ \"q\" " + round;
                ps.setInt(1, Integer.MAX_VALUE - 1 - round);
                ps.setString(2, text);
                ps.setBytes(3, allBytes);
                ps.setObject(4, ts);
                ps.setBigDecimal(5, n);
                ps.setArray(6, c.createArrayOf("int4", new Integer[] {1, null, -3, round}));
                ps.setArray(7, c.createArrayOf("text", new String[] {"a", "b c", null, "\"quoted\"", "{}", ""}));
                ps.setNull(8, Types.INTEGER);
                try (ResultSet rs = ps.executeQuery()) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getInt(1)).isEqualTo(Integer.MAX_VALUE - round);
                    assertThat(rs.getString(2)).isEqualTo(text + "|");
                    assertThat(rs.getBytes(3)).isEqualTo(allBytes);
                    assertThat(rs.getObject(4, OffsetDateTime.class)).isAtSameInstantAs(ts);
                    assertThat(rs.getBigDecimal(5)).isEqualByComparingTo(n.multiply(BigDecimal.valueOf(2)));
                    assertThat((Object[]) rs.getArray(6).getArray()).containsExactly(1, null, -3, round);
                    assertThat((Object[]) rs.getArray(7).getArray())
                            .containsExactly("a", "b c", null, "\"quoted\"", "{}", "");
                    assertThat(rs.getBoolean(8)).isTrue();
                    assertThat(rs.next()).isFalse();
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Mode.class)
    void valuesAndNullsRoundTripThroughATable(Mode mode) throws SQLException {
        OffsetDateTime ts = OffsetDateTime.of(1999, 12, 31, 23, 59, 59, 999_999_000, ZoneOffset.UTC);
        byte[] bytes = {0, 1, 2, (byte) 0xff, (byte) 0x80, 0x5c, 0x27};
        try (Connection c = connect(mode)) {
            try (PreparedStatement ins = c.prepareStatement(
                    "INSERT INTO it_pgjdbc_types (mode, id, i, t, b, ts, n, ia, ta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
                ins.setString(1, mode.name());
                ins.setInt(2, 1);
                ins.setInt(3, Integer.MIN_VALUE);
                ins.setString(4, "line1\nline2\ttab \u0001 ünï");
                ins.setBytes(5, bytes);
                ins.setObject(6, ts);
                ins.setBigDecimal(7, new BigDecimal("-0.000000000000000000001"));
                ins.setArray(8, c.createArrayOf("int4", new Integer[] {}));
                ins.setArray(9, c.createArrayOf("text", new String[] {"NULL", null}));
                assertThat(ins.executeUpdate()).isEqualTo(1);
                ins.setString(1, mode.name());
                ins.setInt(2, 2);
                ins.setNull(3, Types.INTEGER);
                ins.setNull(4, Types.VARCHAR);
                ins.setNull(5, Types.BINARY);
                ins.setNull(6, Types.TIMESTAMP_WITH_TIMEZONE);
                ins.setNull(7, Types.NUMERIC);
                ins.setNull(8, Types.ARRAY);
                ins.setNull(9, Types.ARRAY);
                assertThat(ins.executeUpdate()).isEqualTo(1);
            }
            try (PreparedStatement sel = c.prepareStatement(
                    "SELECT id, i, t, b, ts, n, ia, ta FROM it_pgjdbc_types WHERE mode = ? ORDER BY id")) {
                for (int round = 0; round < 6; round++) {
                    sel.setString(1, mode.name());
                    try (ResultSet rs = sel.executeQuery()) {
                        assertThat(rs.next()).isTrue();
                        assertThat(rs.getInt("i")).isEqualTo(Integer.MIN_VALUE);
                        assertThat(rs.getString("t")).isEqualTo("line1\nline2\ttab \u0001 ünï");
                        assertThat(rs.getBytes("b")).isEqualTo(bytes);
                        assertThat(rs.getObject("ts", OffsetDateTime.class)).isAtSameInstantAs(ts);
                        assertThat(rs.getBigDecimal("n")).isEqualByComparingTo("-0.000000000000000000001");
                        assertThat((Object[]) rs.getArray("ia").getArray()).isEmpty();
                        assertThat((Object[]) rs.getArray("ta").getArray()).containsExactly("NULL", null);
                        assertThat(rs.next()).isTrue();
                        assertThat(rs.getInt("id")).isEqualTo(2);
                        for (String col : List.of("i", "t", "b", "ts", "n", "ia", "ta")) {
                            assertThat(rs.getObject(col)).as(col).isNull();
                            assertThat(rs.wasNull()).as(col).isTrue();
                        }
                        assertThat(rs.next()).isFalse();
                    }
                }
            }
        }
    }

    static Stream<Arguments> modesAndRewrite() {
        return Stream.of(Mode.values()).flatMap(m -> Stream.of(Arguments.of(m, true), Arguments.of(m, false)));
    }

    @ParameterizedTest
    @MethodSource("modesAndRewrite")
    void batchInsertsArriveCompletely(Mode mode, boolean rewrite) throws SQLException {
        String tag = mode.name() + "-" + rewrite;
        int rows = 1500;
        try (Connection c = connect(mode, "reWriteBatchedInserts=" + rewrite)) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO it_pgjdbc_batch (mode, id, v) VALUES (?, ?, ?)")) {
                for (int i = 1; i <= rows; i++) {
                    ps.setString(1, tag);
                    ps.setInt(2, i);
                    ps.setString(3, "v" + i);
                    ps.addBatch();
                    if (i % 500 == 0) {
                        int[] counts = ps.executeBatch();
                        assertThat(counts).hasSize(500);
                        assertThat(java.util.Arrays.stream(counts).boxed().toList())
                                .allMatch(n -> n == 1 || n == Statement.SUCCESS_NO_INFO);
                    }
                }
            }
            c.commit();
        }
        // Checked on a direct connection: the rows reached PostgreSQL, whatever the proxy says.
        try (Connection d = ItEnv.direct();
             PreparedStatement ps = d.prepareStatement(
                     "SELECT count(*), sum(id), count(*) FILTER (WHERE v = 'v' || id) FROM it_pgjdbc_batch WHERE mode = ?")) {
            ps.setString(1, tag);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                assertThat(rs.getLong(1)).isEqualTo(rows);
                assertThat(rs.getLong(2)).isEqualTo((long) rows * (rows + 1) / 2);
                assertThat(rs.getLong(3)).isEqualTo(rows);
            }
        }
    }

    // ---- large results -------------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "BINARY"})   // the two ends; rows are relayed alike
    void largeResultIsReadCompletely(Mode mode) throws SQLException {
        try (Connection c = connect(mode);
             PreparedStatement ps = c.prepareStatement(
                     "SELECT g, 'row ' || g FROM generate_series(1, ?) g")) {
            ps.setInt(1, 200_000);
            long rows = 0;
            long sum = 0;
            String last = null;
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    rows++;
                    sum += rs.getLong(1);
                    last = rs.getString(2);
                }
            }
            assertThat(rows).isEqualTo(200_000);
            assertThat(sum).isEqualTo(200_000L * 200_001 / 2);
            assertThat(last).isEqualTo("row 200000");
        }
    }

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"EXTENDED"})
    void cursorFetchReadsLargeResultInChunks(Mode mode) throws SQLException {
        // With a fetch size inside a transaction pgjdbc sends Execute with a row limit and gets PortalSuspended.
        try (Connection c = connect(mode)) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("SELECT g FROM generate_series(1, 50000) g")) {
                ps.setFetchSize(1000);
                long rows = 0;
                long sum = 0;
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        rows++;
                        sum += rs.getLong(1);
                    }
                }
                assertThat(rows).isEqualTo(50_000);
                assertThat(sum).isEqualTo(50_000L * 50_001 / 2);
            }
            c.commit();
        }
    }

    @ParameterizedTest
    @EnumSource(Mode.class)
    void multiMegabyteParameterAndValueRoundTrip(Mode mode) throws SQLException {
        // One Bind (or, in simple mode, one Query with a hex literal) of ~8 MB and a DataRow of the same size.
        byte[] big = new byte[8 << 20];
        new java.util.Random(mode.ordinal()).nextBytes(big);
        try (Connection c = connect(mode); PreparedStatement ps = c.prepareStatement("SELECT ?::bytea, md5(?::bytea)")) {
            ps.setBytes(1, big);
            ps.setBytes(2, big);
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getBytes(1)).isEqualTo(big);
                assertThat(rs.getString(2)).isEqualTo(md5Hex(big));
            }
        }
    }

    private static String md5Hex(byte[] data) {
        try {
            return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("MD5").digest(data));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void largeObjectsWorkThroughTheFunctionCallProtocol() throws SQLException {
        // pgjdbc's large object API uses FunctionCall ('F') messages.
        byte[] data = new byte[300_000];
        new java.util.Random(42).nextBytes(data);
        try (Connection c = connect(Mode.EXTENDED)) {
            c.setAutoCommit(false);
            org.postgresql.largeobject.LargeObjectManager lom =
                    c.unwrap(PGConnection.class).getLargeObjectAPI();
            long oid = lom.createLO();
            try {
                try (org.postgresql.largeobject.LargeObject lo = lom.open(oid, org.postgresql.largeobject.LargeObjectManager.WRITE)) {
                    lo.write(data);
                }
                c.commit();
                try (org.postgresql.largeobject.LargeObject lo = lom.open(oid, org.postgresql.largeobject.LargeObjectManager.READ)) {
                    assertThat(lo.size()).isEqualTo(data.length);
                    assertThat(lo.read(data.length)).isEqualTo(data);
                }
                c.commit();
            } finally {
                lom.unlink(oid);
                c.commit();
            }
            assertThat(ItEnv.queryLong(c, "SELECT count(*) FROM pg_largeobject_metadata WHERE oid = " + oid)).isZero();
        }
    }

    @Test
    void loginErrorsFromPostgresReachTheClient() {
        SQLException noDb = catchThrowableOfType(SQLException.class, () -> DriverManager.getConnection(
                ItEnv.url(pgmemo.port(), "it_no_such_database", ""), ItEnv.USER, "").close());
        assertThat((Throwable) noDb).isNotNull();
        assertThat(noDb.getSQLState()).isEqualTo("3D000");
        assertThat(noDb.getMessage()).contains("database \"it_no_such_database\" does not exist");

        SQLException noRole = catchThrowableOfType(SQLException.class, () -> DriverManager.getConnection(
                ItEnv.url(pgmemo.port(), ItEnv.DB, ""), "it_no_such_role", "").close());
        assertThat((Throwable) noRole).isNotNull();
        assertThat(noRole.getSQLState()).isEqualTo("28000");
        assertThat(noRole.getMessage()).contains("role \"it_no_such_role\" does not exist");
    }

    @Test
    void otherDatabasesAreReachable() throws SQLException {
        for (String db : List.of("postgres", "root")) {
            try (Connection c = DriverManager.getConnection(ItEnv.url(pgmemo.port(), db, ""), ItEnv.USER, "")) {
                assertThat(ItEnv.queryString(c, "SELECT current_database()")).isEqualTo(db);
            }
        }
    }

    // ---- COPY ----------------------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(Mode.class)
    void copyInAndCopyOutRoundTrip(Mode mode) throws Exception {
        StringBuilder csv = new StringBuilder();
        for (int i = 1; i <= 10_000; i++) {
            String v = switch (i % 4) {
                case 0 -> "\"comma, and \"\"quotes\"\"\"";
                case 1 -> "plain" + i;
                case 2 -> "ünïcødé ✓ " + i;
                default -> "";   // unquoted empty = NULL in CSV
            };
            csv.append(mode.name()).append(',').append(i).append(',').append(v).append('\n');
        }
        try (Connection c = connect(mode)) {
            CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
            long in = copy.copyIn("COPY it_pgjdbc_copy (mode, id, v) FROM STDIN WITH (FORMAT csv)",
                    new StringReader(csv.toString()));
            assertThat(in).isEqualTo(10_000);

            StringWriter out = new StringWriter();
            long outRows = copy.copyOut("COPY (SELECT mode, id, v FROM it_pgjdbc_copy WHERE mode = '" + mode.name()
                    + "' ORDER BY id) TO STDOUT WITH (FORMAT csv)", out);
            assertThat(outRows).isEqualTo(10_000);
            assertThat(out.toString()).isEqualTo(csv.toString());
            assertThat(ItEnv.queryLong(c, "SELECT count(*) FROM it_pgjdbc_copy WHERE mode = '" + mode.name()
                    + "' AND v IS NULL")).isEqualTo(2_500);
        }
    }

    @ParameterizedTest
    @EnumSource(Mode.class)
    void failedCopyInLeavesSessionUsable(Mode mode) throws Exception {
        try (Connection c = connect(mode)) {
            CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
            String bad = "BAD-" + mode.name() + ",1,ok\nBAD-" + mode.name() + ",not-a-number,x\n";
            SQLException e = catchThrowableOfType(SQLException.class,
                    () -> copy.copyIn("COPY it_pgjdbc_copy (mode, id, v) FROM STDIN WITH (FORMAT csv)",
                            new StringReader(bad)));
            assertThat((Throwable) e).isNotNull();
            assertThat(e.getSQLState()).isEqualTo("22P02");
            assertThat(ItEnv.queryLong(c, "SELECT count(*) FROM it_pgjdbc_copy WHERE mode = 'BAD-" + mode.name() + "'"))
                    .isZero();
        }
    }

    // ---- asynchronous messages -----------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(Mode.class)
    void notificationsReachAListeningSession(Mode mode) throws SQLException {
        String channel = "it_pgjdbc_chan_" + mode.name().toLowerCase();
        try (Connection listener = connect(mode); Connection notifier = connect(mode)) {
            try (Statement s = listener.createStatement()) {
                s.execute("LISTEN " + channel);
            }
            PGConnection pgListener = listener.unwrap(PGConnection.class);
            assertThat(pgListener.getNotifications(100)).isEmpty();
            try (PreparedStatement ps = notifier.prepareStatement("SELECT pg_notify(?, ?)")) {
                ps.setString(1, channel);
                ps.setString(2, "payload ✓ 1");
                ps.execute();
            }
            try (Statement s = notifier.createStatement()) {
                s.execute("NOTIFY " + channel + ", 'payload 2'");
            }
            // The listener is idle: the notifications arrive without any request from it.
            List<PGNotification> got = new ArrayList<>();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (got.size() < 2 && System.nanoTime() < deadline) {
                PGNotification[] batch = pgListener.getNotifications(1000);
                if (batch != null) {
                    got.addAll(List.of(batch));
                }
            }
            int notifierPid = notifier.unwrap(PGConnection.class).getBackendPID();
            assertThat(got).extracting(PGNotification::getName).containsExactly(channel, channel);
            assertThat(got).extracting(PGNotification::getParameter).containsExactly("payload ✓ 1", "payload 2");
            assertThat(got).extracting(PGNotification::getPID).containsOnly(notifierPid);
        }
    }

    @ParameterizedTest
    @EnumSource(Mode.class)
    void noticesBecomeWarnings(Mode mode) throws SQLException {
        try (Connection c = connect(mode); Statement s = c.createStatement()) {
            s.execute("DO $$ BEGIN RAISE NOTICE 'it notice %', 42; RAISE WARNING 'it warning'; END $$");
            SQLWarning w = s.getWarnings();
            assertThat((Throwable) w).isNotNull();
            assertThat(w.getMessage()).contains("it notice 42");
            assertThat(w.getSQLState()).isEqualTo("00000");
            SQLWarning w2 = w.getNextWarning();
            assertThat((Throwable) w2).isNotNull();
            assertThat(w2.getMessage()).contains("it warning");
            assertThat(w2.getSQLState()).isEqualTo("01000");
        }
    }

    // ---- cancel and errors ---------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(Mode.class)
    void cancelFromAnotherThreadStopsASleepingQuery(Mode mode) throws Exception {
        try (Connection c = connect(mode)) {
            ItEnv.assertCancelStopsASleepingQuery(c, "it_cancel_" + mode.name().toLowerCase());
        }
        assertThat(AdminHttp.metric(pgmemo.adminPort(), "pgmemo_cancel_requests_total", null)).isPositive();
    }


    @ParameterizedTest
    @EnumSource(Mode.class)
    void queryTimeoutCancelsTheQuery(Mode mode) throws SQLException {
        try (Connection c = connect(mode); Statement s = c.createStatement()) {
            s.setQueryTimeout(1);
            long start = System.nanoTime();
            assertThatThrownBy(() -> s.execute("SELECT pg_sleep(10)"))
                    .isInstanceOf(SQLException.class)
                    .extracting(e -> ((SQLException) e).getSQLState()).isEqualTo("57014");
            long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertThat(elapsedMs).isBetween(900L, 5_000L);
            s.setQueryTimeout(0);
            assertThat(ItEnv.queryLong(c, "SELECT 8")).isEqualTo(8);
        }
    }

    @ParameterizedTest
    @EnumSource(Mode.class)
    void errorInTransactionAbortsItUntilRollback(Mode mode) throws SQLException {
        try (Connection c = connect(mode)) {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                assertThat(ItEnv.queryLong(c, "SELECT 1")).isEqualTo(1);
                SQLException div = catchThrowableOfType(SQLException.class, () -> s.executeQuery("SELECT 1/0"));
                assertThat(div.getSQLState()).isEqualTo("22012");
                assertThat(div.getMessage()).contains("division by zero");
                SQLException aborted = catchThrowableOfType(SQLException.class, () -> s.executeQuery("SELECT 2"));
                assertThat(aborted.getSQLState()).isEqualTo("25P02");
                c.rollback();
                assertThat(ItEnv.queryLong(c, "SELECT 3")).isEqualTo(3);
                c.commit();
            }
            c.setAutoCommit(true);
            try (PreparedStatement ps = c.prepareStatement("SELECT ?::int / 0")) {
                ps.setInt(1, 5);
                assertThatThrownBy(ps::executeQuery).isInstanceOf(SQLException.class)
                        .extracting(e -> ((SQLException) e).getSQLState()).isEqualTo("22012");
            }
            assertThat(ItEnv.queryLong(c, "SELECT 4")).isEqualTo(4);
        }
    }

    // ---- startup and session parameters -------------------------------------------------------------------

    @Test
    void startupParametersReachPostgres() throws SQLException {
        Properties props = new Properties();
        props.setProperty("user", ItEnv.USER);
        props.setProperty("ApplicationName", "pgmemo-it-app");
        props.setProperty("options", "-c search_path=it_pgjdbc_schema,public -c statement_timeout=4321");
        try (Connection c = DriverManager.getConnection(ItEnv.url(pgmemo.port(), ItEnv.DB, ""), props);
             Connection d = ItEnv.direct()) {
            assertThat(ItEnv.queryString(c, "SHOW application_name")).isEqualTo("pgmemo-it-app");
            assertThat(ItEnv.queryString(c, "SHOW search_path")).isEqualTo("it_pgjdbc_schema,public");
            assertThat(ItEnv.queryString(c, "SHOW statement_timeout")).isEqualTo("4321ms");
            assertThat(ItEnv.queryString(c, "SELECT here FROM where_am_i")).isEqualTo("in it_pgjdbc_schema");
            assertThat(ItEnv.queryString(c, "SELECT current_user")).isEqualTo(ItEnv.USER);
            assertThat(ItEnv.queryString(c, "SELECT current_database()")).isEqualTo(ItEnv.DB);
            int pid = c.unwrap(PGConnection.class).getBackendPID();
            assertThat(ItEnv.queryString(d, "SELECT application_name FROM pg_stat_activity WHERE pid = " + pid))
                    .isEqualTo("pgmemo-it-app");
        }
    }

    @ParameterizedTest
    @EnumSource(Mode.class)
    void parameterStatusReachesTheDriver(Mode mode) throws SQLException {
        try (Connection c = connect(mode); Connection d = ItEnv.direct()) {
            BaseConnection base = c.unwrap(BaseConnection.class);
            assertThat(base.getParameterStatus("server_version")).isEqualTo(ItEnv.queryString(d, "SHOW server_version"));
            assertThat(base.getParameterStatus("TimeZone")).isEqualTo(TimeZone.getDefault().getID());
            assertThat(base.getParameterStatus("client_encoding")).isEqualTo("UTF8");
            assertThat(base.getParameterStatus("standard_conforming_strings")).isEqualTo("on");
            try (Statement s = c.createStatement()) {
                // A SET of a GUC_REPORT setting makes PostgreSQL send ParameterStatus mid-session.
                s.execute("SET TimeZone = 'Pacific/Chatham'");
                s.execute("SET application_name = 'renamed-" + mode.name() + "'");
            }
            assertThat(base.getParameterStatus("TimeZone")).isEqualTo("Pacific/Chatham");
            assertThat(base.getParameterStatus("application_name")).isEqualTo("renamed-" + mode.name());
            assertThat(ItEnv.queryString(c, "SELECT '2024-06-01 12:00:00+00'::timestamptz::text"))
                    .isEqualTo("2024-06-02 00:45:00+12:45");
        }
    }

    // ---- authentication ------------------------------------------------------------------------------------

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void scramLoginPassesThroughAndWrongPasswordIsRejected() throws Exception {
        String password = "it-scram-Pässword-" + System.nanoTime();
        try (OwnPostgres pg = OwnPostgres.startScram(password)) {
            try (Connection d = DriverManager.getConnection(pg.jdbcUrl("postgres"), "postgres", password);
                 Statement s = d.createStatement()) {
                s.execute("CREATE ROLE it_scram_user LOGIN PASSWORD 'user-secret'");
                assertThat(ItEnv.queryString(d, "SELECT rolpassword FROM pg_authid WHERE rolname = 'it_scram_user'"))
                        .startsWith("SCRAM-SHA-256$");
                assertThat(ItEnv.queryString(d, "SELECT string_agg(DISTINCT auth_method, ',') FROM pg_hba_file_rules"))
                        .isEqualTo("scram-sha-256");
            }
            PgmemoServer viaScram = ItEnv.startPgmemo(ItEnv.baseYaml()
                    .replace("postgresql://127.0.0.1:5432", "postgresql://127.0.0.1:" + pg.port));
            try {
                String url = ItEnv.url(viaScram.port(), "postgres", "");
                try (Connection c = DriverManager.getConnection(url, "postgres", password)) {
                    assertThat(ItEnv.queryString(c, "SELECT current_user")).isEqualTo("postgres");
                    assertThat(ItEnv.queryLong(c, "SELECT inet_server_port()")).isEqualTo(pg.port);
                }
                try (Connection c = DriverManager.getConnection(url, "it_scram_user", "user-secret")) {
                    assertThat(ItEnv.queryString(c, "SELECT session_user")).isEqualTo("it_scram_user");
                }
                SQLException wrong = catchThrowableOfType(SQLException.class,
                        () -> DriverManager.getConnection(url, "it_scram_user", "not-the-password").close());
                assertThat((Throwable) wrong).isNotNull();
                assertThat(wrong.getSQLState()).isEqualTo("28P01");
                assertThat(wrong.getMessage()).contains("password authentication failed for user \"it_scram_user\"");
            } finally {
                viaScram.stop(Duration.ofSeconds(5));
            }
        }
    }
}
