package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.it.cache.CacheIt.Mode;
import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.it.cache.WireClient.Msg;
import dev.pgmemo.proxy.PgmemoServer;
import java.sql.Connection;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Cases found by reviewing pgmemo against PostgreSQL: session state that a statement changes in ways the
 * context tracking missed, transactions that end without returning to idle, and protocol state (portals,
 * statements, unsynced messages) that an answer from the cache must leave as PostgreSQL would.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class ReviewedCasesIT {
    private static final String ID = CacheIt.uid();
    private static final String T = "memo_rev_" + ID;
    private static final String S = "memo_rev_s_" + ID;
    private static PgmemoServer pgmemo;

    @BeforeAll
    static void setUp() throws Exception {
        CacheIt.execDirect(
                "CREATE TABLE " + T + " (k int PRIMARY KEY, v text NOT NULL)",
                "INSERT INTO " + T + " VALUES (1, 'public-1'), (2, 'public-2'), (3, 'public-3')",
                "CREATE SCHEMA " + S,
                "CREATE TABLE " + S + "." + T + " (k int PRIMARY KEY, v text NOT NULL)",
                "INSERT INTO " + S + "." + T + " VALUES (1, 'other-1'), (2, 'other-2')");
        pgmemo = CacheIt.start(Store.MEMORY);
    }

    @AfterAll
    static void tearDown() throws Exception {
        if (pgmemo != null) {
            pgmemo.close();
        }
        CacheIt.execDirect("DROP TABLE IF EXISTS " + T, "DROP SCHEMA IF EXISTS " + S + " CASCADE");
    }

    private static String one(Statement st, String sql) throws Exception {
        try (var rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static List<String> dataRows(List<Msg> msgs) {
        return msgs.stream().filter(m -> m.type() == 'D').map(m -> String.join(",", m.columns())).collect(Collectors.toList());
    }

    private static String types(List<Msg> msgs) {
        return msgs.stream().map(m -> String.valueOf(m.type())).collect(Collectors.joining());
    }

    @Test
    void rollbackToSavepointRestoresTheSearchPathForTheCache() throws Exception {
        String read = "SELECT string_agg(v, ',' ORDER BY k) FROM " + T + " /* sp */";
        try (Connection c = CacheIt.connect(pgmemo, Mode.SIMPLE); Statement st = c.createStatement()) {
            assertThat(one(st, read)).isEqualTo("public-1,public-2,public-3");
            st.execute("BEGIN");
            st.execute("SAVEPOINT a");
            st.execute("SET search_path = " + S + ", public");
            assertThat(one(st, read)).isEqualTo("other-1,other-2");
            st.execute("ROLLBACK TO SAVEPOINT a");
            assertThat(one(st, read)).as("after ROLLBACK TO the public table is read again").isEqualTo("public-1,public-2,public-3");
            st.execute("COMMIT");
        }
    }

    @Test
    void commitAndChainEndsTheTransactionForInvalidationAndSettings() throws Exception {
        String read = "SELECT count(*) FROM " + T + " WHERE k > 100";
        try (Connection a = CacheIt.connect(pgmemo, Mode.SIMPLE); Statement sa = a.createStatement();
                Connection b = CacheIt.connect(pgmemo, Mode.SIMPLE); Statement sb = b.createStatement()) {
            assertThat(one(sb, read)).isEqualTo("0");
            assertThat(one(sb, read)).isEqualTo("0");
            sa.execute("BEGIN");
            sa.execute("INSERT INTO " + T + " VALUES (101, 'chained')");
            sa.execute("COMMIT AND CHAIN");
            assertThat(one(sb, read)).as("the committed row, while A's chained transaction is still open").isEqualTo("1");
            String path = "SELECT string_agg(v, ',' ORDER BY k) FROM " + T + " WHERE k < 3 /* chain */";
            sa.execute("SET LOCAL search_path = " + S + ", public");
            assertThat(one(sa, path)).isEqualTo("other-1,other-2");
            sa.execute("COMMIT AND CHAIN");
            assertThat(one(sa, path)).as("SET LOCAL ended with its transaction").isEqualTo("public-1,public-2");
            sa.execute("COMMIT");
        } finally {
            CacheIt.execDirect("DELETE FROM " + T + " WHERE k > 100");
        }
    }

    @Test
    void commitFollowedByWritesInOneQueryInvalidatesOnlyWhatCommitted() throws Exception {
        String read = "SELECT count(*) FROM " + T + " WHERE k > 200";
        try (Connection a = CacheIt.connect(pgmemo, Mode.SIMPLE); Statement sa = a.createStatement();
                Connection b = CacheIt.connect(pgmemo, Mode.SIMPLE); Statement sb = b.createStatement()) {
            assertThat(one(sb, read)).isEqualTo("0");
            sa.execute("BEGIN; INSERT INTO " + T + " VALUES (201, 'x'); COMMIT; BEGIN; INSERT INTO " + T + " VALUES (202, 'y')");
            assertThat(one(sb, read)).as("the first insert committed").isEqualTo("1");
            assertThat(one(sb, read)).isEqualTo("1");
            sa.execute("COMMIT");
            assertThat(one(sb, read)).as("the second insert committed").isEqualTo("2");
        } finally {
            CacheIt.execDirect("DELETE FROM " + T + " WHERE k > 200");
        }
    }

    @Test
    void aClientGoneAfterItsCommitStillInvalidates() throws Exception {
        String read = "SELECT count(*) FROM " + T + " WHERE k > 400";
        try (Connection b = CacheIt.connect(pgmemo, Mode.SIMPLE); Statement sb = b.createStatement()) {
            assertThat(one(sb, read)).isEqualTo("0");
            assertThat(one(sb, read)).isEqualTo("0");
            WireClient a = new WireClient(pgmemo.port(), CacheIt.USER, "test");
            // The COMMIT is done long before this Query's ReadyForQuery, which never comes: the backend dies.
            a.query("BEGIN; INSERT INTO " + T + " VALUES (401, 'gone'); COMMIT; SELECT pg_sleep(30) /* " + ID + " */").flush();
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5))
                    .until(() -> "1".equals(CacheIt.oneDirect("SELECT count(*) FROM " + T + " WHERE k > 400")));
            CacheIt.execDirect("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30) /* "
                    + ID + " */%' AND pid <> pg_backend_pid()");
            assertThat(a.readToEnd()).as("the session ends with its backend").isTrue();
            assertThat(one(sb, read)).as("the committed row, though its ReadyForQuery never came").isEqualTo("1");
            a.close();
        } finally {
            CacheIt.execDirect("DELETE FROM " + T + " WHERE k > 400");
        }
    }

    @Test
    void aCommitEndingInAFailedChainedTransactionStillInvalidatesAndAnswers() throws Exception {
        String table = "memo_rev_fresh_" + ID;
        CacheIt.execDirect("CREATE TABLE " + table + " (k int)");
        try (WireClient c = new WireClient(pgmemo.port(), CacheIt.USER, "test");
                Connection b = CacheIt.connect(pgmemo, Mode.SIMPLE); Statement sb = b.createStatement()) {
            String read = "SELECT count(*) FROM " + table;
            assertThat(one(sb, read)).isEqualTo("0");
            assertThat(one(sb, read)).isEqualTo("0");
            // A table this session has not learned about, written and committed, then a failing statement in the
            // chained transaction: pgmemo may not ask the catalog inside it, and must not hang.
            c.query("BEGIN; INSERT INTO " + table + " VALUES (1); COMMIT; BEGIN; SELECT 1/0").flush();
            List<Msg> reply = c.readUntilReady();
            assertThat(types(reply)).endsWith("EZ");
            assertThat(reply.get(reply.size() - 1).body()[0]).isEqualTo((byte) 'E');
            assertThat(one(sb, read)).as("the committed row").isEqualTo("1");
            c.query("ROLLBACK").flush();
            assertThat(types(c.readUntilReady())).isEqualTo("CZ");
        } finally {
            CacheIt.execDirect("DROP TABLE IF EXISTS " + table);
        }
    }

    @Test
    void aReadAfterAWritingUserFunctionInTheSameBatchIsNotCached() throws Exception {
        String fn = "memo_rev_ins_" + ID;
        CacheIt.execDirect("CREATE FUNCTION " + fn + "() RETURNS int LANGUAGE sql AS $$ INSERT INTO " + T
                + " VALUES (501, 'by function') RETURNING k $$");
        String read = "SELECT count(*) FROM " + T + " WHERE k > 500";
        try (WireClient a = new WireClient(pgmemo.port(), CacheIt.USER, "test");
                WireClient b = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            a.query("BEGIN").flush();
            a.readUntilReady();
            a.parse("", "SELECT " + fn + "()").bind("", "").execute("")
                    .parse("", read).bind("", "").execute("").sync().flush();
            assertThat(dataRows(a.readUntilReady())).containsExactly("501", "1");
            b.parse("", read).bind("", "").execute("").sync().flush();
            assertThat(dataRows(b.readUntilReady())).as("the insert is not committed").containsExactly("0");
            a.query("ROLLBACK").flush();
            a.readUntilReady();
            b.parse("", read).bind("", "").execute("").sync().flush();
            assertThat(dataRows(b.readUntilReady())).containsExactly("0");
        } finally {
            CacheIt.execDirect("DELETE FROM " + T + " WHERE k > 500", "DROP FUNCTION IF EXISTS " + fn + "()");
        }
    }

    @Test
    void aStableFunctionCallingSetConfigDirtiesTheContext() throws Exception {
        String fn = "memo_rev_setpath_" + ID;
        CacheIt.execDirect("CREATE FUNCTION " + fn + "(p text) RETURNS text STABLE LANGUAGE plpgsql AS $$ BEGIN "
                + "PERFORM set_config('search_path', p, false); RETURN p; END $$");
        try (Connection c = CacheIt.connect(pgmemo, Mode.SIMPLE); Statement st = c.createStatement()) {
            String read = "SELECT string_agg(v, ',' ORDER BY k) FROM " + T + " WHERE k < 3 /* stable */";
            assertThat(one(st, read)).isEqualTo("public-1,public-2");
            assertThat(one(st, read)).isEqualTo("public-1,public-2");
            st.execute("SELECT " + fn + "('" + S + ", public')");
            assertThat(one(st, read)).isEqualTo("other-1,other-2");
        } finally {
            CacheIt.execDirect("DROP FUNCTION IF EXISTS " + fn + "(text)");
        }
    }

    @Test
    void updatingPgSettingsIsASet() throws Exception {
        try (Connection c = CacheIt.connect(pgmemo, Mode.SIMPLE); Statement st = c.createStatement()) {
            String read = "SELECT string_agg(v, ',' ORDER BY k) FROM " + T + " WHERE k < 3 /* pg_settings */";
            assertThat(one(st, read)).isEqualTo("public-1,public-2");
            st.execute("UPDATE pg_settings SET setting = '" + S + ", public' WHERE name = 'search_path'");
            assertThat(one(st, read)).isEqualTo("other-1,other-2");
        }
    }

    @Test
    void standardConformingStringsOffStopsCachingAndCountsEveryStatementAsAWrite() throws Exception {
        String read = "SELECT count(*) FROM " + T + " WHERE k > 300";
        try (Connection a = CacheIt.connect(pgmemo, Mode.SIMPLE); Statement sa = a.createStatement();
                Connection b = CacheIt.connect(pgmemo, Mode.SIMPLE); Statement sb = b.createStatement()) {
            assertThat(one(sb, read)).isEqualTo("0");
            assertThat(one(sb, read)).isEqualTo("0");
            sa.execute("SET standard_conforming_strings = off");
            sa.execute("SET escape_string_warning = off");
            // With backslash escapes on, the DELETE below is a statement of its own, not part of a string.
            sa.execute("SELECT 'a\\', ' ; INSERT INTO " + T + " VALUES (301, 'hidden'); SELECT ' --'");
            assertThat(one(sb, read)).isEqualTo("1");
        } finally {
            CacheIt.execDirect("DELETE FROM " + T + " WHERE k > 300");
        }
    }

    @Test
    void setConfigInABatchKeepsLaterReadsOfThatBatchOutOfTheCache() throws Exception {
        String read = "SELECT v FROM " + T + " WHERE k = $1 /* batch */";
        try (WireClient c = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            c.parse("", "SELECT set_config('search_path', '" + S + ", public', false)").bind("", "").execute("")
                    .parse("", read).bind("", "", "2").execute("").sync().flush();
            assertThat(dataRows(c.readUntilReady())).contains("other-2");
        }
        try (WireClient fresh = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            fresh.parse("", read).bind("", "", "2").execute("").sync().flush();
            assertThat(dataRows(fresh.readUntilReady())).containsExactly("public-2");
        }
    }

    @Test
    void noAnswerFromTheCacheWhileExtendedMessagesAwaitASync() throws Exception {
        String read = "SELECT v FROM " + T + " WHERE k = $1 /* unsynced */";
        try (WireClient c = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            for (int i = 0; i < 2; i++) {
                c.parse("", read).bind("", "", "1").execute("").sync().flush();
                assertThat(dataRows(c.readUntilReady())).containsExactly("public-1");
            }
            c.parse("b", "BEGIN").bind("pb", "b").execute("pb").flushMessage().flush();
            assertThat(types(List.of(c.read(), c.read(), c.read()))).isEqualTo("12C");
            c.parse("", read).bind("", "", "1").execute("").sync().flush();
            List<Msg> reply = c.readUntilReady();
            assertThat(reply.get(reply.size() - 1).body()[0]).as("status in %s", reply).isEqualTo((byte) 'T');
            c.query("ROLLBACK").flush();
            c.readUntilReady();
        }
    }

    @Test
    void aPortalAnsweredFromTheCacheEndsWithItsImplicitTransaction() throws Exception {
        String read = "SELECT v FROM " + T + " WHERE k = $1 /* portal */";
        try (WireClient c = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            for (int i = 0; i < 3; i++) {
                c.parse("s" + i, read).bind("p", "s" + i, "3").execute("p").sync().flush();
                assertThat(dataRows(c.readUntilReady())).containsExactly("public-3");
            }
            c.execute("p").sync().flush();
            assertThat(types(c.readUntilReady())).as("the portal is gone after the Sync").isEqualTo("EZ");
        }
    }

    @Test
    void reParsingANameAnsweredFromTheCacheFailsAsInPostgres() throws Exception {
        String read = "SELECT v FROM " + T + " WHERE k = $1 /* reparse */";
        try (WireClient c = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            c.parse("w", read).bind("", "w", "1").execute("").sync().flush();
            c.readUntilReady();
            for (String name : List.of("r1", "r2")) {
                c.parse(name, read).bind("", name, "1").execute("").sync().flush();
                assertThat(dataRows(c.readUntilReady())).as("answered from the cache").containsExactly("public-1");
            }
            c.parse("r2", read).sync().flush();
            List<Msg> reply = c.readUntilReady();
            assertThat(types(reply)).isEqualTo("EZ");
            assertThat(reply.get(0).toString()).contains("42P05");
            c.query("EXPLAIN EXECUTE r1(1)").flush();
            assertThat(types(c.readUntilReady())).as("the statement is prepared upstream first").doesNotContain("E");
        }
    }

    @Test
    void theUnnamedStatementIsGoneAfterASimpleQueryAnsweredFromTheCache() throws Exception {
        String read = "SELECT v FROM " + T + " WHERE k = 1 /* unnamed */";
        try (WireClient c = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            c.query(read).flush();
            c.readUntilReady();
            c.parse("", "SELECT 42").bind("", "").execute("").sync().flush();
            assertThat(dataRows(c.readUntilReady())).containsExactly("42");
            c.query(read).flush();
            assertThat(dataRows(c.readUntilReady())).containsExactly("public-1");
            c.bind("", "").execute("").sync().flush();
            List<Msg> reply = c.readUntilReady();
            assertThat(types(reply)).isEqualTo("EZ");
            assertThat(reply.get(0).toString()).contains("26000");
        }
    }

    @Test
    void aBindWithMismatchedFormatCountsGetsPostgresError() throws Exception {
        try (WireClient c = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            c.parse("", "SELECT $1::text, $2::text, $3::text").bindRaw("", "", new short[] {0, 0}, "1", "2", "3")
                    .execute("").sync().flush();
            List<Msg> reply = c.readUntilReady();
            assertThat(types(reply)).isEqualTo("1EZ");
            assertThat(reply.get(1).toString()).contains("08P01");
            c.query("SELECT 1").flush();
            assertThat(dataRows(c.readUntilReady())).containsExactly("1");
        }
    }

    @Test
    void invalidUtf8NeverSharesAKeyWithItsReplacement() throws Exception {
        try (WireClient c = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            String ok = "SELECT length('\uFFFD') /* utf8 */";
            for (int i = 0; i < 2; i++) {
                c.query(ok).flush();
                assertThat(dataRows(c.readUntilReady())).containsExactly("1");
            }
            byte[] bad = "SELECT length('?') /* utf8 */".getBytes(java.nio.charset.StandardCharsets.UTF_8);
            bad[15] = (byte) 0xff;
            c.queryBytes(bad).flush();
            List<Msg> reply = c.readUntilReady();
            assertThat(types(reply)).isEqualTo("EZ");
            assertThat(reply.get(0).toString()).contains("22021");
        }
    }

    @Test
    void halfClosedClientWhoseMessagesWaitedBehindAPausedFlowIsClosed() throws Exception {
        try (WireClient c = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            // The session's first cacheable read pauses the flow for the catalog query; the Parse/Bind/Execute
            // behind it (no Sync) and the end of input arrive meanwhile, and are processed only after it.
            c.query("SELECT v FROM " + T + " WHERE k = 3").parse("", "SELECT 1").bind("", "").execute("").flush();
            c.shutdownOutput();
            assertThat(dataRows(c.readUntilReady())).containsExactly("public-3");
            assertThat(c.readToEnd()).as("pgmemo closes, as PostgreSQL does").isTrue();
        }
    }

    @Test
    void halfClosedClientWithHeldMessagesIsClosed() throws Exception {
        try (WireClient c = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            c.parse("", "SELECT 1").bind("", "").execute("").flush();
            c.shutdownOutput();
            assertThat(c.readToEnd()).as("pgmemo closes, as PostgreSQL does").isTrue();
        }
    }
}
