package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.it.cache.WireClient.Msg;
import dev.pgmemo.proxy.PgmemoServer;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Protocol-level named statements and SQL-level PREPARE/EXECUTE/DEALLOCATE share one namespace in
 * PostgreSQL. pgmemo may answer a named statement's Parse itself (its Execute was a hit), so the SQL
 * statements that name it must still find it upstream, and after DEALLOCATE or DISCARD ALL a Bind to it
 * must fail as PostgreSQL fails it, not be answered from the cache.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SqlPreparedStatementsIT {
    private static final String TABLE = "memo_sqlprep_" + CacheIt.uid();
    private static PgmemoServer pgmemo;

    @BeforeAll
    static void setUp() throws Exception {
        CacheIt.execDirect("CREATE TABLE " + TABLE + " (k int PRIMARY KEY, v text NOT NULL)",
                "INSERT INTO " + TABLE + " VALUES (1, 'one'), (2, 'two')");
        pgmemo = CacheIt.start(Store.MEMORY);
    }

    @AfterAll
    static void tearDown() throws Exception {
        if (pgmemo != null) {
            pgmemo.close();
        }
        CacheIt.execDirect("DROP TABLE IF EXISTS " + TABLE);
    }

    private static final String READ = "SELECT v FROM " + TABLE + " WHERE k = $1";

    /** Runs Bind/Execute/Sync of {@code statement} with parameter {@code k}; returns the replies. */
    private static List<Msg> run(WireClient c, String statement, String k) throws Exception {
        return c.bind("", statement, k).execute("").sync().flush().readUntilReady();
    }

    private static List<String> rows(List<Msg> replies) {
        return replies.stream().filter(m -> m.type() == 'D').map(m -> m.columns().get(0)).toList();
    }

    private static List<Msg> errors(List<Msg> replies) {
        return replies.stream().filter(m -> m.type() == 'E').toList();
    }

    /** Warms the cache for READ with k on a connection of its own, until a hit is counted. */
    private static void warm(String k) throws Exception {
        try (WireClient w = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            w.parse("warm", READ).sync().flush().readUntilReady();
            for (int i = 0; i < 5; i++) {
                long hits = CacheIt.metrics(pgmemo).hits();
                assertThat(rows(run(w, "warm", k))).hasSize(1);
                Thread.sleep(50);
                if (CacheIt.metrics(pgmemo).hits() > hits) {
                    return;
                }
            }
            throw new AssertionError("never served from the cache (precondition)");
        }
    }

    /** Parse + Bind + Execute answered entirely by pgmemo: PostgreSQL has not seen the statement. */
    private static void parseLocally(WireClient c, String name, String k) throws Exception {
        long hits = CacheIt.metrics(pgmemo).hits();
        List<Msg> replies = c.parse(name, READ).bind("", name, k).execute("").sync().flush().readUntilReady();
        assertThat(errors(replies)).isEmpty();
        assertThat(rows(replies)).hasSize(1);
        Thread.sleep(50);
        assertThat(CacheIt.metrics(pgmemo).hits()).as("answered from the cache (precondition)").isGreaterThan(hits);
    }

    @Test
    void sqlExecuteAndDeallocateFindAStatementPgmemoAnsweredLocally() throws Exception {
        warm("1");
        try (WireClient c = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            parseLocally(c, "s1", "1");

            List<Msg> executed = c.query("EXECUTE s1(1)").flush().readUntilReady();
            assertThat(errors(executed)).as("SQL EXECUTE of the protocol-level statement").isEmpty();
            assertThat(rows(executed)).containsExactly("one");

            List<Msg> deallocated = c.query("DEALLOCATE s1").flush().readUntilReady();
            assertThat(errors(deallocated)).as("DEALLOCATE s1").isEmpty();

            List<Msg> after = run(c, "s1", "1");
            assertThat(rows(after)).as("Bind to a deallocated statement").isEmpty();
            assertThat(errors(after)).singleElement().extracting(Msg::sqlState).isEqualTo("26000");

            List<Msg> again = c.parse("s1", READ).sync().flush().readUntilReady();
            assertThat(errors(again)).as("the name is free again").isEmpty();
            assertThat(rows(run(c, "s1", "1"))).containsExactly("one");
        }
    }

    /**
     * pgjdbc sends a Close with its next query for every statement the garbage collector reclaimed: that batch
     * is still answered from the cache, and PostgreSQL closes the statement before it sees the next request.
     */
    @Test
    void batchThatClosesAStatementIsStillAHitAndTheStatementIsClosedUpstream() throws Exception {
        warm("1");
        try (WireClient c = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            // Parse + Sync with nothing to execute goes upstream: PostgreSQL holds "old".
            assertThat(errors(c.parse("old", "SELECT 42").sync().flush().readUntilReady())).isEmpty();

            long hits = CacheIt.metrics(pgmemo).hits();
            List<Msg> replies = c.close('S', "old").parse("s1", READ).bind("", "s1", "1").execute("").sync()
                    .flush().readUntilReady();
            assertThat(replies).extracting(Msg::type).containsExactly('3', '1', '2', 'D', 'C', 'Z');
            assertThat(rows(replies)).containsExactly("one");
            Thread.sleep(50);
            assertThat(CacheIt.metrics(pgmemo).hits()).as("answered from the cache").isGreaterThan(hits);

            List<Msg> listed = c.query("SELECT name FROM pg_prepared_statements ORDER BY name").flush().readUntilReady();
            assertThat(errors(listed)).isEmpty();
            assertThat(rows(listed)).as("PostgreSQL closed \"old\" before this query").doesNotContain("old");

            List<Msg> bound = c.bind("", "old").execute("").sync().flush().readUntilReady();
            assertThat(errors(bound)).singleElement().extracting(Msg::sqlState).isEqualTo("26000");
            assertThat(errors(c.parse("old", "SELECT 43").sync().flush().readUntilReady()))
                    .as("the name is free again").isEmpty();
            assertThat(rows(c.bind("", "old").execute("").sync().flush().readUntilReady())).containsExactly("43");
        }
    }

    /**
     * After an error in a request sent on by a Flush, PostgreSQL discards everything up to the next Sync and
     * answers only that Sync. pgmemo must not answer the discarded requests from the cache, nor wait for their
     * replies. The same messages go to PostgreSQL directly and through pgmemo; the replies must be the same.
     */
    @Test
    void requestsAfterAnErrorBeforeSyncAreDiscardedAsPostgresqlDiscardsThem() throws Exception {
        warm("2");
        for (int port : new int[] {5432, pgmemo.port()}) {
            try (WireClient c = new WireClient(port, CacheIt.USER, "test")) {
                String where = port == 5432 ? "directly" : "through pgmemo";
                c.parse("bad", "SELEC 1").flushMessage().flush();
                Msg error = c.read();
                assertThat(error.type()).as(where).isEqualTo('E');
                assertThat(error.sqlState()).as(where).isEqualTo("42601");

                List<Msg> replies = c.parse("s2", READ).bind("", "s2", "2").execute("").sync().flush().readUntilReady();
                assertThat(replies).as(where).extracting(Msg::type).containsExactly('Z');

                assertThat(rows(c.parse("s2", READ).bind("", "s2", "2").execute("").sync().flush().readUntilReady()))
                        .as(where + ": the session goes on; s2 was never prepared").containsExactly("two");
                assertThat(rows(c.query("SELECT 'still in step'").flush().readUntilReady())).as(where)
                        .containsExactly("still in step");
            }
        }
    }

    /**
     * A statement pgmemo answered locally is prepared upstream (an injected Parse) when a miss needs it. If that
     * Parse fails (its table was dropped meanwhile), the client hears the error, as its own Parse would have
     * failed without pgmemo; it used to get a bare ReadyForQuery.
     */
    @Test
    void failingInjectedParseReachesTheClient() throws Exception {
        String table = TABLE + "_gone";
        String read = "SELECT v FROM " + table + " WHERE k = $1";
        CacheIt.execDirect("CREATE TABLE " + table + " (k int PRIMARY KEY, v text NOT NULL)",
                "INSERT INTO " + table + " VALUES (1, 'one'), (2, 'two')");
        try (WireClient w = new WireClient(pgmemo.port(), CacheIt.USER, "test");
                WireClient c = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            w.parse("warm", read).sync().flush().readUntilReady();
            for (int i = 0; i < 3; i++) {
                assertThat(rows(run(w, "warm", "1"))).containsExactly("one");
            }
            long hits = CacheIt.metrics(pgmemo).hits();
            List<Msg> local = c.parse("g", read).bind("", "g", "1").execute("").sync().flush().readUntilReady();
            assertThat(rows(local)).containsExactly("one");
            Thread.sleep(50);
            assertThat(CacheIt.metrics(pgmemo).hits()).as("answered locally (precondition)").isGreaterThan(hits);

            CacheIt.execDirect("DROP TABLE " + table);
            List<Msg> after = run(c, "g", "2");
            assertThat(errors(after)).singleElement().extracting(Msg::sqlState).isEqualTo("42P01");
            assertThat(after.get(after.size() - 1).type()).isEqualTo('Z');
            assertThat(rows(c.query("SELECT 'next'").flush().readUntilReady())).containsExactly("next");
        }
    }

    /**
     * A Parse that PostgreSQL discards (it came after a failed message, before the Sync) creates no statement:
     * pgmemo must not remember it either, or a later Bind to it could be answered from the cache where
     * PostgreSQL says it does not exist.
     */
    @Test
    void aParseDiscardedAfterAnErrorLeavesNoStatement() throws Exception {
        warm("1");
        for (int port : new int[] {5432, pgmemo.port()}) {
            try (WireClient c = new WireClient(port, CacheIt.USER, "test")) {
                String where = port == 5432 ? "directly" : "through pgmemo";
                c.parse("bad", "SELEC 1").flushMessage().parse("d1", READ).flushMessage().sync().flush();
                assertThat(c.readUntilReady()).as(where).extracting(Msg::type).containsExactly('E', 'Z');

                List<Msg> bound = run(c, "d1", "1");
                assertThat(rows(bound)).as(where).isEmpty();
                assertThat(errors(bound)).as(where).singleElement().extracting(Msg::sqlState).isEqualTo("26000");
            }
        }
    }

    @Test
    void deallocateAllAndDiscardAllForgetEveryNamedStatement() throws Exception {
        warm("2");
        try (WireClient c = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            parseLocally(c, "a1", "2");
            assertThat(errors(c.query("DEALLOCATE ALL").flush().readUntilReady())).isEmpty();
            assertThat(errors(run(c, "a1", "2"))).as("after DEALLOCATE ALL")
                    .singleElement().extracting(Msg::sqlState).isEqualTo("26000");

            // pgmemo cannot tell what a Bind to a statement it does not know would have run: it invalidated
            // the database when that Execute went upstream, so warm again.
            warm("2");
            parseLocally(c, "a2", "2");
            assertThat(errors(c.query("DISCARD ALL").flush().readUntilReady())).isEmpty();
            List<Msg> after = run(c, "a2", "2");
            assertThat(rows(after)).as("after DISCARD ALL").isEmpty();
            assertThat(errors(after)).singleElement().extracting(Msg::sqlState).isEqualTo("26000");
        }
    }

    /**
     * The unnamed statement survives Sync but not a simple Query: pgmemo's own catalog query (sent here
     * because the table is new to it) must not make the client's later Bind fail.
     */
    @Test
    void unnamedStatementParsedEarlierSurvivesPgmemosCatalogQuery() throws Exception {
        String table = TABLE + "_unnamed";
        CacheIt.execDirect("CREATE TABLE " + table + " (k int PRIMARY KEY, v text NOT NULL)",
                "INSERT INTO " + table + " VALUES (1, 'one')");
        try (WireClient c = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            assertThat(errors(c.parse("", "SELECT v FROM " + table + " WHERE k = $1").sync().flush().readUntilReady()))
                    .isEmpty();
            for (int i = 0; i < 3; i++) {
                List<Msg> replies = run(c, "", "1");
                assertThat(errors(replies)).as("Bind to the unnamed statement, run %d", i).isEmpty();
                assertThat(rows(replies)).containsExactly("one");
            }
            c.query("SELECT 1").flush().readUntilReady();
            List<Msg> afterQuery = run(c, "", "1");
            assertThat(rows(afterQuery)).as("after the client's own simple Query").isEmpty();
            assertThat(errors(afterQuery)).singleElement().extracting(Msg::sqlState).isEqualTo("26000");
        } finally {
            CacheIt.execDirect("DROP TABLE IF EXISTS " + table);
        }
    }

    @Test
    void sqlPrepareAndDeallocateDoNotInvalidateTheCache() throws Exception {
        warm("1");
        try (WireClient c = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            long invalidations = CacheIt.metrics(pgmemo).get("pgmemo_cache_invalidations_total");
            c.query("PREPARE p1 (int) AS SELECT v FROM " + TABLE + " WHERE k = $1").flush().readUntilReady();
            c.query("DEALLOCATE p1").flush().readUntilReady();
            assertThat(CacheIt.metrics(pgmemo).get("pgmemo_cache_invalidations_total")).as("PREPARE and DEALLOCATE change no data")
                    .isEqualTo(invalidations);
            parseLocally(c, "still_cached", "1");
        }
    }
}
