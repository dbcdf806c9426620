package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.it.cache.CacheIt.Mode;
import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.it.cache.WireClient.Msg;
import dev.pgmemo.proxy.PgmemoServer;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A request that could be answered from the cache, sent while earlier requests of the same session are
 * still at PostgreSQL, must be answered after them and with the session's real transaction status —
 * pgjdbc does exactly this with autocommit off (Query "BEGIN", then Parse/Bind/Describe/Execute/Sync
 * without waiting).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PipelinedRequestsIT {
    private static final String TABLE = "memo_pipe_" + CacheIt.uid();
    private static final Map<Store, PgmemoServer> servers = new EnumMap<>(Store.class);
    private static final AtomicInteger keys = new AtomicInteger();

    @BeforeAll
    static void setUp() throws Exception {
        CacheIt.execDirect("CREATE TABLE " + TABLE + " (k int PRIMARY KEY, v text NOT NULL)");
        for (Store s : Store.values()) {
            servers.put(s, CacheIt.start(s));
        }
    }

    @AfterAll
    static void tearDown() throws Exception {
        servers.values().forEach(PgmemoServer::close);
        CacheIt.execDirect("DROP TABLE IF EXISTS " + TABLE);
    }

    private static int newRow(String v) throws Exception {
        int k = keys.incrementAndGet();
        CacheIt.execDirect("INSERT INTO " + TABLE + " VALUES (" + k + ", '" + v + "')");
        return k;
    }

    /** Groups replies by ReadyForQuery. */
    private static List<List<Msg>> readGroups(WireClient c, int n) throws Exception {
        List<List<Msg>> groups = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            groups.add(c.readUntilReady());
        }
        return groups;
    }

    @ParameterizedTest
    @EnumSource(Store.class)
    void cachedSimpleQueryPipelinedBehindASlowQueryIsAnsweredSecond(Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        int k = newRow("cached");
        String read = "SELECT v FROM " + TABLE + " WHERE k = " + k;
        try (WireClient c = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            for (int i = 0; i < 3; i++) {
                assertThat(c.query(read).flush().readUntilReady()).filteredOn(m -> m.type() == 'D')
                        .singleElement().extracting(Msg::columns).isEqualTo(List.of("cached"));
            }
            long hits = CacheIt.metrics(pgmemo).hits();
            assertThat(hits).isPositive();

            c.query("SELECT 'slow' || pg_sleep(0.3)::text").query(read).flush();
            List<List<Msg>> groups = readGroups(c, 2);

            assertThat(groups.get(0)).as("answer to the first query, %s", groups)
                    .filteredOn(m -> m.type() == 'D').singleElement().extracting(Msg::columns).isEqualTo(List.of("slow"));
            assertThat(groups.get(1)).as("answer to the second query, %s", groups)
                    .filteredOn(m -> m.type() == 'D').singleElement().extracting(Msg::columns).isEqualTo(List.of("cached"));
        }
    }

    @ParameterizedTest
    @EnumSource(Store.class)
    void cachedExtendedBatchPipelinedBehindBeginIsAnsweredAfterItInTheTransaction(Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        int k = newRow("cached");
        String read = "SELECT v FROM " + TABLE + " WHERE k = $1";
        try (WireClient c = new WireClient(pgmemo.port(), CacheIt.USER, "test")) {
            for (int i = 0; i < 3; i++) {
                c.parse("", read, 23).bind("", "", String.valueOf(k)).describePortal("").execute("").sync().flush();
                assertThat(c.readUntilReady()).filteredOn(m -> m.type() == 'D')
                        .singleElement().extracting(Msg::columns).isEqualTo(List.of("cached"));
            }
            assertThat(CacheIt.metrics(pgmemo).hits()).isPositive();

            // What pgjdbc sends for the first query after setAutoCommit(false), with a slow BEGIN to make the
            // race certain.
            c.query("SELECT pg_sleep(0.3); BEGIN")
                    .parse("", read, 23).bind("", "", String.valueOf(k)).describePortal("").execute("").sync().flush();
            List<List<Msg>> groups = readGroups(c, 2);

            assertThat(groups.get(0)).as("replies to the Query, in order: %s", groups)
                    .filteredOn(m -> m.type() == 'C').extracting(Msg::toString)
                    .containsExactly("CommandComplete(SELECT 1)", "CommandComplete(BEGIN)");
            assertThat(groups.get(0).get(groups.get(0).size() - 1).toString()).isEqualTo("ReadyForQuery(T)");
            assertThat(groups.get(1)).as("replies to the batch: %s", groups).extracting(Msg::type)
                    .containsExactly('1', '2', 'T', 'D', 'C', 'Z');
            assertThat(groups.get(1).get(3).columns()).isEqualTo(List.of("cached"));
            assertThat(groups.get(1).get(5).toString()).as("the session is in a transaction").isEqualTo("ReadyForQuery(T)");
            c.query("COMMIT").flush().readUntilReady();
        }
    }

    /** The same through pgjdbc: the first read after setAutoCommit(false) of a value another session cached. */
    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"EXTENDED", "UNNAMED", "SERVER_PREPARED", "BINARY"})
    void firstReadInATransactionOfACachedValueReturnsTheRow(Mode mode) throws Exception {
        PgmemoServer pgmemo = servers.get(Store.MEMORY);
        int k = newRow("cached");
        String read = "SELECT v FROM " + TABLE + " WHERE k = ?";
        try (Connection warmer = CacheIt.connect(pgmemo, mode); Connection c = CacheIt.connect(pgmemo, mode)) {
            CacheIt.warm(pgmemo, warmer, read, k);
            c.setAutoCommit(false);
            for (int i = 0; i < 3; i++) {
                assertThat(CacheIt.one(c, read, k)).isEqualTo("cached");
                c.commit();
            }
        }
    }
}
