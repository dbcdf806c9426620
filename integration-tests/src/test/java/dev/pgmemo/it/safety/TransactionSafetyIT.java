package dev.pgmemo.it.safety;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * "Never wrong" inside transactions and around errors: isolation levels, a transaction's own writes, failed
 * transactions, errors and notices, error handling mid-batch and in pipelines, and cursor-style fetches.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class TransactionSafetyIT extends SafetyIt {

    @Override
    protected String databaseName() {
        return "tx";
    }


    private static String n(String base, Object... parts) {
        StringBuilder sb = new StringBuilder(base);
        for (Object p : parts) {
            sb.append('_').append(p.toString().toLowerCase(Locale.ROOT).replace(' ', '_'));
        }
        return sb.toString();
    }

    // ---- sessions that are never idle --------------------------------------------------------------------

    /**
     * With autocommit off a session is always in a transaction when it reads, so pgmemo must learn the
     * session context and the relations from inside the transaction. Proved by changing the row directly in
     * PostgreSQL: the cached value keeps being served until a write through pgmemo invalidates it.
     */
    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "EXTENDED", "PREPARED"})
    void autocommitOffSessionsUseTheCacheFromTheirFirstTransaction(Mode mode) throws SQLException {
        String t = n("autocommit_off", mode);
        db.exec("CREATE TABLE " + t + " (k int PRIMARY KEY, v text)", "INSERT INTO " + t + " VALUES (1, 'before')");
        String q = "SELECT v FROM " + t + " WHERE k = 1";
        try (Connection c = memo.connect(db.name, mode); Connection w = memo.connect(db.name, mode)) {
            c.setAutoCommit(false);
            assertThat(memo.warm(c, q)).containsExactly("before");
            c.commit();
            db.exec("UPDATE " + t + " SET v = 'changed directly'");
            assertThat(Sql.rows(c, q)).as("served from the cache in a new transaction").containsExactly("before");
            c.commit();
            Sql.exec(w, "UPDATE " + t + " SET v = 'through pgmemo'");
            assertThat(Sql.rows(c, q)).containsExactly("through pgmemo");
            c.commit();
        }
    }

    /** The session default is REPEATABLE READ and pgmemo first learns it inside such a transaction. */
    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void repeatableReadByDefaultIsNeverCachedEvenWhenLearnedInsideTheTransaction(Mode mode) throws SQLException {
        String t = n("rr_default", mode);
        db.exec("CREATE TABLE " + t + " (k int PRIMARY KEY, v text)", "INSERT INTO " + t + " VALUES (1, 'v1')");
        String q = "SELECT v FROM " + t + " WHERE k = 1";
        java.util.Properties rr = new java.util.Properties();
        rr.setProperty("options", "-c default_transaction_isolation=repeatable\\ read");
        try (Connection c = Sql.connect(memo.port(), db.name, Sql.SUPERUSER, mode, rr);
                Connection other = memo.connect(db.name, mode)) {
            assertThat(memo.warm(other, q)).containsExactly("v1");
            c.setAutoCommit(false);
            long isolationBypasses = memo.bypasses("isolation");
            assertThat(Sql.rows(c, q)).containsExactly("v1"); // takes the snapshot
            Sql.exec(other, "UPDATE " + t + " SET v = 'v2'"); // through pgmemo: invalidates v1
            assertThat(memo.warm(other, q)).as("another session caches v2").containsExactly("v2");
            assertThat(memo.repeat(c, q)).as("the snapshot of the repeatable read transaction").containsExactly("v1");
            assertThat(Sql.one(c, "SHOW transaction_isolation")).isEqualTo("repeatable read");
            c.commit();
            assertThat(memo.bypasses("isolation")).as("reads in the transaction bypassed the cache")
                    .isGreaterThan(isolationBypasses);
        }
    }

    /**
     * pgmemo's catalog query fails inside a client's transaction (here: the catalogs it reads are revoked):
     * the client's transaction must be exactly as if pgmemo had not asked.
     */
    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void aFailedCatalogQueryInsideATransactionLeavesTheTransactionIntact(Mode mode) throws SQLException {
        try (TestDb locked = TestDb.create("catlock")) {
            String user = locked.role("reader");
            locked.exec("CREATE TABLE t (k int PRIMARY KEY, v text)", "INSERT INTO t VALUES (1, 'one')",
                    "GRANT SELECT, INSERT ON t TO " + user,
                    "REVOKE SELECT ON pg_catalog.pg_policy FROM PUBLIC");
            try (Connection c = memo.connect(locked.name, user, mode)) {
                long catalogErrors = memo.bypasses("catalog_error");
                c.setAutoCommit(false);
                assertThat(Sql.rows(c, "SELECT v FROM t WHERE k = 1")).containsExactly("one");
                Sql.exec(c, "INSERT INTO t VALUES (2, 'two')");
                assertThat(Sql.rows(c, "SELECT v FROM t ORDER BY k")).containsExactly("one", "two");
                c.commit();
                c.setAutoCommit(true);
                assertThat(Sql.rows(c, "SELECT v FROM t ORDER BY k")).containsExactly("one", "two");
                assertThat(memo.bypasses("catalog_error")).as("pgmemo's catalog query did fail (precondition)")
                        .isGreaterThan(catalogErrors);
            }
        }
    }

    // ---- isolation ---------------------------------------------------------------------------------------

    static Stream<Arguments> isolationCases() {
        List<Arguments> out = new ArrayList<>();
        for (Mode m : List.of(Mode.SIMPLE, Mode.PREPARED)) {
            for (String level : List.of("REPEATABLE READ", "SERIALIZABLE")) {
                for (boolean viaJdbcApi : List.of(true, false)) {
                    out.add(Arguments.of(m, level, viaJdbcApi));
                }
            }
        }
        return out.stream();
    }

    /**
     * A REPEATABLE READ / SERIALIZABLE transaction reads its snapshot: a result that another session cached
     * after a later commit would be wrong here.
     */
    @ParameterizedTest(name = "{0} {1} jdbcApi={2}")
    @MethodSource("isolationCases")
    void repeatableReadAndSerializableNeverUseTheCache(Mode mode, String level, boolean viaJdbcApi) throws SQLException {
        String a = n("iso_a", mode, level, viaJdbcApi);
        String b = n("iso_b", mode, level, viaJdbcApi);
        db.exec("CREATE TABLE " + a + " (v text)", "INSERT INTO " + a + " VALUES ('a0')",
                "CREATE TABLE " + b + " (v text)", "INSERT INTO " + b + " VALUES ('b0')");
        String qa = "SELECT v FROM " + a;
        String qb = "SELECT v FROM " + b;
        try (Connection r = memo.connect(db.name, mode); Connection w = memo.connect(db.name, mode);
                Connection tx = memo.connect(db.name, mode)) {
            assertThat(memo.warm(r, qa)).containsExactly("a0");
            assertThat(memo.warm(r, qb)).containsExactly("b0");
            assertThat(memo.warm(tx, qb)).containsExactly("b0");

            long isolationBypasses = memo.bypasses("isolation");
            long contextBypasses = memo.bypasses("context_unknown");
            long hits = memo.hits();
            if (viaJdbcApi) {
                tx.setAutoCommit(false);
                tx.setTransactionIsolation(level.equals("SERIALIZABLE")
                        ? Connection.TRANSACTION_SERIALIZABLE : Connection.TRANSACTION_REPEATABLE_READ);
            } else {
                Sql.exec(tx, "BEGIN ISOLATION LEVEL " + level);
            }
            assertThat(Sql.rows(tx, qa)).as("first read: the snapshot is taken").containsExactly("a0");
            assertThat(memo.hits()).as("hits in the %s transaction", level).isEqualTo(hits);

            Sql.exec(w, "UPDATE " + b + " SET v = 'b1'");
            assertThat(memo.warm(r, qb)).as("another session caches the new value").containsExactly("b1");

            hits = memo.hits();
            for (int i = 0; i < 3; i++) {
                assertThat(Sql.rows(tx, qb)).as("%s transaction reads its snapshot", level).containsExactly("b0");
            }
            assertThat(memo.hits()).as("hits in the %s transaction", level).isEqualTo(hits);
            if (viaJdbcApi) {
                // pgjdbc sets the level with SET SESSION CHARACTERISTICS, which pgmemo can only re-read while the
                // session is idle: inside the transaction the reason may be that the context is not known.
                assertThat(memo.bypasses("isolation") + memo.bypasses("context_unknown"))
                        .as("bypasses with reason isolation or context_unknown")
                        .isGreaterThanOrEqualTo(isolationBypasses + contextBypasses + 3);
            } else {
                assertThat(memo.bypasses("isolation")).as("bypasses with reason isolation")
                        .isGreaterThanOrEqualTo(isolationBypasses + 3);
            }
            if (viaJdbcApi) {
                tx.commit();
                tx.setAutoCommit(true);
            } else {
                Sql.exec(tx, "COMMIT");
            }
            assertThat(Sql.rows(tx, qb)).containsExactly("b1");
        }
    }

    // ---- read committed ----------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void readCommittedTransactionThatWroteReadsItsOwnWrites(Mode mode) throws SQLException {
        String t = n("rc", mode);
        db.exec("CREATE TABLE " + t + " (id int, v text)", "INSERT INTO " + t + " VALUES (1, 'old'), (2, 'other')");
        String q = "SELECT v FROM " + t + " WHERE id = 1";
        try (Connection r = memo.connect(db.name, mode); Connection tx = memo.connect(db.name, mode)) {
            assertThat(memo.warm(r, q)).containsExactly("old");
            assertThat(memo.warm(tx, q)).containsExactly("old");

            tx.setAutoCommit(false);
            assertThat(Sql.rows(tx, q)).containsExactly("old");
            Sql.exec(tx, "UPDATE " + t + " SET v = 'mine' WHERE id = 1");
            for (int i = 0; i < 2; i++) {
                assertThat(Sql.rows(tx, q)).as("the transaction reads its own write").containsExactly("mine");
            }
            assertThat(Sql.rows(r, q)).as("another session does not see the uncommitted write").containsExactly("old");
            tx.rollback();
            assertThat(Sql.rows(tx, q)).as("after ROLLBACK").containsExactly("old");
            assertThat(Sql.rows(r, q)).as("another session after ROLLBACK").containsExactly("old");

            Sql.exec(tx, "UPDATE " + t + " SET v = 'new' WHERE id = 1");
            assertThat(Sql.rows(tx, q)).containsExactly("new");
            tx.commit();
            tx.setAutoCommit(true);
            assertThat(Sql.rows(r, q)).as("another session after COMMIT").containsExactly("new");
            assertThat(Sql.rows(tx, q)).containsExactly("new");
        }
    }

    // ---- errors ------------------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void errorsInsideATransactionLeaveNoEntryBehind(Mode mode) throws SQLException {
        String t = n("txerr", mode);
        db.exec("CREATE TABLE " + t + " (id int, d int, v text)", "INSERT INTO " + t + " VALUES (1, 0, 'a')");
        String div = "SELECT 10 / d FROM " + t + " WHERE id = 1";
        String q = "SELECT v FROM " + t + " WHERE id = 1";
        try (Connection r = memo.connect(db.name, mode); Connection tx = memo.connect(db.name, mode)) {
            // The session's context is known (it read from the cache while idle), so reads in its
            // transactions are candidates for the cache.
            assertThat(memo.warm(tx, q)).containsExactly("a");
            long errorsNotStored = memo.notStored("error");
            tx.setAutoCommit(false);
            assertThat(Sql.sqlStateOf(tx, div)).isEqualTo("22012");
            tx.rollback();
            assertThat(memo.notStored("error")).as("not stored because of an error").isGreaterThan(errorsNotStored);

            assertThat(Sql.rows(tx, q)).containsExactly("a");
            Sql.exec(tx, "UPDATE " + t + " SET v = 'dirty' WHERE id = 1");
            assertThat(Sql.rows(tx, q)).containsExactly("dirty");
            assertThat(Sql.sqlStateOf(tx, "SELECT 1 / (d - d) FROM " + t)).isEqualTo("22012");
            tx.rollback();
            tx.setAutoCommit(true);
            assertThat(Sql.rows(r, q)).as("after the failed transaction was rolled back").containsExactly("a");
            assertThat(Sql.rows(tx, q)).containsExactly("a");

            db.exec("UPDATE " + t + " SET d = 5"); // bypasses pgmemo: only a cached error could hide it
            assertThat(Sql.rows(r, div)).containsExactly("2");
        }
    }

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void cacheableStatementInAFailedTransactionGetsTheAbortedError(Mode mode) throws SQLException {
        String t = n("failedtx", mode);
        db.exec("CREATE TABLE " + t + " (v text)", "INSERT INTO " + t + " VALUES ('ok')");
        String q = "SELECT v FROM " + t;
        try (Connection c = memo.connect(db.name, mode)) {
            assertThat(memo.warm(c, q)).containsExactly("ok");
            c.setAutoCommit(false);
            assertThat(Sql.rows(c, q)).containsExactly("ok");
            assertThat(Sql.sqlStateOf(c, "SELECT 1 / 0")).isEqualTo("22012");
            long hits = memo.hits();
            for (int i = 0; i < 2; i++) {
                assertThat(Sql.sqlStateOf(c, q)).as("cacheable statement in a failed transaction").isEqualTo("25P02");
            }
            assertThat(memo.hits()).isEqualTo(hits);
            c.rollback();
            assertThat(Sql.rows(c, q)).containsExactly("ok");
            c.setAutoCommit(true);
        }
    }

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void errorsAreNeverCached(Mode mode) throws SQLException {
        String t = n("errs", mode);
        String missing = n("errs_missing", mode);
        db.exec("CREATE TABLE " + t + " (id int, v text)", "INSERT INTO " + t + " VALUES (1, 'x')");
        String cast = "SELECT v::int FROM " + t + " WHERE id = 1";
        String absent = "SELECT v FROM " + missing;
        try (Connection c = memo.connect(db.name, mode)) {
            long hits = memo.hits();
            for (int i = 0; i < 3; i++) {
                assertThat(Sql.sqlStateOf(c, cast)).isEqualTo("22P02");
                assertThat(Sql.sqlStateOf(c, absent)).isEqualTo("42P01");
                Memo.sleep(50);
            }
            assertThat(memo.hits()).isEqualTo(hits);
            // Fixed behind pgmemo's back: only a cached error could still be returned.
            db.exec("UPDATE " + t + " SET v = '42'", "CREATE TABLE " + missing + " (v text)",
                    "INSERT INTO " + missing + " VALUES ('here')");
            assertThat(Sql.rows(c, cast)).containsExactly("42");
            assertThat(Sql.rows(c, absent)).containsExactly("here");
        }
    }

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void resultsWithNoticesAreNotCached(Mode mode) throws SQLException {
        String t = n("noisy_t", mode);
        String f = n("noisy_f", mode);
        db.exec("CREATE TABLE " + t + " (id int)", "INSERT INTO " + t + " VALUES (1)",
                "CREATE FUNCTION " + f + "(x int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS"
                        + " $$ BEGIN RAISE NOTICE 'noisy %', x; RETURN x; END $$");
        String q = "SELECT " + f + "(id) FROM " + t;
        try (Connection c = memo.connect(db.name, mode)) {
            memo.warm(c, "SELECT id FROM " + t); // control: the cache works in this session
            Memo.Counters before = memo.counters();
            long noticeNotStored = memo.notStored("notice");
            for (int i = 0; i < 3; i++) {
                try (PreparedStatement ps = c.prepareStatement(q); ResultSet rs = ps.executeQuery()) {
                    assertThat(Sql.rowsOf(rs)).containsExactly("1");
                    SQLWarning warning = ps.getWarnings();
                    assertThat((Object) warning).as("the NOTICE reaches the client every time (run %d)", i).isNotNull();
                    assertThat(warning.getMessage()).contains("noisy 1");
                }
                Memo.sleep(50);
            }
            Memo.Counters after = memo.counters();
            assertThat(after.hits()).isEqualTo(before.hits());
            assertThat(after.stores()).isEqualTo(before.stores());
            assertThat(memo.notStored("notice")).isGreaterThan(noticeNotStored);
        }
    }

    // ---- batches and pipelines ---------------------------------------------------------------------------

    /** What a client can observe of a JDBC batch whose second statement fails. */
    private static List<String> runFailingBatch(Connection c, String table, boolean autocommit) throws SQLException {
        List<String> seen = new ArrayList<>();
        c.setAutoCommit(autocommit);
        try (Statement s = c.createStatement()) {
            s.addBatch("INSERT INTO " + table + " VALUES (1)");
            s.addBatch("INSERT INTO " + table + " VALUES (1 / 0)");
            s.addBatch("INSERT INTO " + table + " VALUES (3)");
            BatchUpdateException e = catchThrowableOfType(BatchUpdateException.class, s::executeBatch);
            seen.add("exception=" + (e == null ? "none" : e.getSQLState()));
            seen.add("counts=" + (e == null ? "" : Arrays.toString(e.getUpdateCounts())));
        }
        if (!autocommit) {
            seen.add("next=" + Sql.sqlStateOf(c, "SELECT count(*) FROM " + table));
            c.rollback();
            c.setAutoCommit(true);
        }
        seen.add("rows=" + Sql.rows(c, "SELECT count(*) FROM " + table));
        return seen;
    }

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "EXTENDED", "PREPARED"})
    void errorMidBatchBehavesExactlyLikePostgres(Mode mode) throws SQLException {
        String t = n("batch", mode);
        String rt = n("batch_read", mode);
        db.exec("CREATE TABLE " + t + " (id int)", "CREATE TABLE " + rt + " (id int, v text)",
                "INSERT INTO " + rt + " VALUES (1, 'one'), (2, 'two')");
        String pipelined = "SELECT v FROM " + rt + " WHERE id = 1; SELECT 1 / 0; SELECT v FROM " + rt + " WHERE id = 2";
        try (Connection direct = Sql.direct(db.name, Sql.SUPERUSER, mode); Connection viaMemo = memo.connect(db.name, mode)) {
            memo.warm(viaMemo, "SELECT v FROM " + rt + " WHERE id = 1");
            memo.warm(viaMemo, "SELECT v FROM " + rt + " WHERE id = 2");
            for (boolean autocommit : List.of(true, false)) {
                List<String> expected = runFailingBatch(direct, t, autocommit);
                Sql.exec(direct, "TRUNCATE " + t);
                List<String> actual = runFailingBatch(viaMemo, t, autocommit);
                Sql.exec(direct, "TRUNCATE " + t);
                assertThat(actual).as("batch with a failing 2nd statement, autocommit=%s", autocommit).isEqualTo(expected);

                String directState;
                try (Statement s = direct.createStatement()) {
                    directState = catchThrowableOfType(SQLException.class, () -> s.execute(pipelined)).getSQLState();
                }
                try (Statement s = viaMemo.createStatement()) {
                    SQLException e = catchThrowableOfType(SQLException.class, () -> s.execute(pipelined));
                    assertThat((Object) e).as("three statements, the 2nd failing").isNotNull();
                    assertThat(e.getSQLState()).isEqualTo(directState);
                }
                assertThat(Sql.rows(viaMemo, "SELECT v FROM " + rt + " WHERE id = 2")).containsExactly("two");
            }
        }
    }

    /** Pipelined extended-protocol batches, the middle one failing, some statements cached: same replies. */
    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"EXTENDED"})
    void pipelinedBatchWithAFailureGetsExactlyPostgresReplies(Mode mode) throws Exception {
        String t = n("pipe_err", mode);
        db.exec("CREATE TABLE " + t + " (id int, v text)", "INSERT INTO " + t + " VALUES (1, 'one'), (2, 'two')");
        String q = "SELECT v FROM " + t + " WHERE id = $1";
        byte[] pipeline = Wire.concat(
                Wire.extended(q, "1"),
                Wire.parse("", "SELECT 1 / 0"), Wire.bind("", ""), Wire.describePortal(""), Wire.execute("", 0),
                Wire.parse("", q), Wire.bind("", "", "2"), Wire.describePortal(""), Wire.execute("", 0), Wire.sync(),
                Wire.extended(q, "2"),
                Wire.extended(q, "1"));
        try (Wire direct = Wire.connect(Sql.PG_PORT, Sql.SUPERUSER, db.name);
                Wire viaMemo = Wire.connect(memo.port(), Sql.SUPERUSER, db.name)) {
            for (String id : List.of("1", "2")) {
                for (int i = 0; i < 3; i++) {
                    viaMemo.extendedQuery(q, id);
                    Memo.sleep(30);
                }
            }
            direct.send(pipeline);
            List<String> expected = Wire.summaries(direct.readUntilReady(4));
            long hits = memo.hits();
            viaMemo.send(pipeline);
            List<String> actual = Wire.summaries(viaMemo.readUntilReady(4));
            assertThat(actual).isEqualTo(expected);
            assertThat(memo.hits()).as("the batches after the failed one may be answered from the cache")
                    .isGreaterThanOrEqualTo(hits);
        }
    }

    /**
     * Requests pipelined behind a write: the read must see the write (read-your-writes) and every reply must
     * come in request order with the real transaction status, exactly as PostgreSQL sends them.
     */
    @RepeatedTest(3)
    void pipelinedReadAfterWriteSeesTheWriteInOrder() throws Exception {
        String t = n("pipe_rw", Sql.suffix());
        db.exec("CREATE TABLE " + t + " (id int, v text)", "INSERT INTO " + t + " VALUES (1, 'old')");
        String q = "SELECT v FROM " + t + " WHERE id = 1";
        try (Wire w = Wire.connect(memo.port(), Sql.SUPERUSER, db.name)) {
            for (int i = 0; i < 3; i++) {
                w.simple(q);
                Memo.sleep(30);
            }
            long hits = memo.hits();
            assertThat(Wire.summaries(w.simple(q))).containsExactly("T", "D[old]", "C(SELECT 1)", "Z(I)");
            assertThat(memo.hits()).as("precondition: the read is cached").isGreaterThan(hits);

            w.send(Wire.query("UPDATE " + t + " SET v = 'new' WHERE id = 1"), Wire.query(q));
            assertThat(Wire.summaries(w.readUntilReady(2))).as("simple: UPDATE pipelined with a cached SELECT")
                    .containsExactly("C(UPDATE 1)", "Z(I)", "T", "D[new]", "C(SELECT 1)", "Z(I)");

            for (int i = 0; i < 3; i++) {
                w.simple(q);
                Memo.sleep(30);
            }
            w.send(Wire.query("BEGIN"), Wire.query(q), Wire.query("COMMIT"));
            assertThat(Wire.summaries(w.readUntilReady(3))).as("simple: BEGIN pipelined with a cached SELECT")
                    .containsExactly("C(BEGIN)", "Z(T)", "T", "D[new]", "C(SELECT 1)", "Z(T)", "C(COMMIT)", "Z(I)");

            String p = "SELECT v FROM " + t + " WHERE id = $1";
            for (int i = 0; i < 3; i++) {
                w.extendedQuery(p, "1");
                Memo.sleep(30);
            }
            w.send(Wire.parse("", "UPDATE " + t + " SET v = 'newer' WHERE id = 1"), Wire.bind("", ""),
                    Wire.execute("", 0), Wire.sync(), Wire.extended(p, "1"));
            assertThat(Wire.summaries(w.readUntilReady(2))).as("extended: UPDATE batch pipelined with a cached SELECT batch")
                    .containsExactly("1", "2", "C(UPDATE 1)", "Z(I)", "1", "2", "T", "D[newer]", "C(SELECT 1)", "Z(I)");
        }
    }

    // ---- cursors -----------------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"EXTENDED", "PREPARED"})
    void cursorFetchReturnsEveryRowAndIsNeverStored(Mode mode) throws SQLException {
        String t = n("cursor", mode);
        db.exec("CREATE TABLE " + t + " (id int)", "INSERT INTO " + t + " SELECT generate_series(1, 1000)");
        String q = "SELECT id FROM " + t + " ORDER BY id";
        try (Connection c = memo.connect(db.name, mode)) {
            memo.warm(c, "SELECT count(*) FROM " + t); // control: the cache works in this session
            Memo.Counters before = memo.counters();
            long rowLimit = memo.bypasses("row_limit");
            c.setAutoCommit(false);
            for (int run = 0; run < 3; run++) {
                List<Integer> ids = new ArrayList<>();
                try (PreparedStatement ps = c.prepareStatement(q)) {
                    ps.setFetchSize(37);
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            ids.add(rs.getInt(1));
                        }
                    }
                }
                assertThat(ids).as("run %d", run).hasSize(1000);
                for (int i = 0; i < 1000; i++) {
                    assertThat(ids.get(i)).isEqualTo(i + 1);
                }
                Memo.sleep(50);
            }
            c.commit();
            c.setAutoCommit(true);
            Memo.Counters after = memo.counters();
            assertThat(after.hits()).isEqualTo(before.hits());
            assertThat(after.stores()).isEqualTo(before.stores());
            assertThat(memo.bypasses("row_limit")).isGreaterThan(rowLimit);
            assertThat(Sql.rows(c, q)).as("the whole result afterwards").hasSize(1000);
            assertThat(memo.hits()).as("nothing was stored by the cursor reads").isEqualTo(after.hits());
        }
    }
}
