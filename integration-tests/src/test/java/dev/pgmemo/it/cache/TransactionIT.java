package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.it.cache.CacheIt.Metrics;
import dev.pgmemo.it.cache.CacheIt.Mode;
import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.proxy.PgmemoServer;
import java.sql.Connection;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Writes inside an explicit transaction (pgjdbc with autocommit off): other sessions keep their cached
 * (committed) value until COMMIT and see the new one right after it; ROLLBACK changes nothing; the writing
 * transaction reads its own write, and that uncommitted value never reaches anyone else through the cache.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TransactionIT {
    private static final String TABLE = "memo_tx_" + CacheIt.uid();
    private static final String READ = "SELECT v FROM " + TABLE + " WHERE k = ?";
    /** The same query with a comment: the same statement for PostgreSQL, another cache key for pgmemo. */
    private static final String READ_OTHER_TEXT = "/* other text */ SELECT v FROM " + TABLE + " WHERE k = ?";
    private static final String UPDATE = "UPDATE " + TABLE + " SET v = ? WHERE k = ?";
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

    private static int newRow(String value) throws Exception {
        int k = keys.incrementAndGet();
        CacheIt.execDirect("INSERT INTO " + TABLE + " VALUES (" + k + ", '" + value + "')");
        return k;
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dev.pgmemo.it.cache.CacheIt#modesAndStores")
    void otherSessionsSeeATransactionsWriteExactlyFromItsCommit(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        int k = newRow("old");
        try (Connection writer = CacheIt.connect(pgmemo, mode); Connection reader = CacheIt.connect(pgmemo, mode)) {
            CacheIt.warm(pgmemo, reader, READ, k);
            writer.setAutoCommit(false);
            assertThat(CacheIt.one(writer, READ, k)).as("read before writing, in the transaction").isEqualTo("old");

            assertThat(CacheIt.update(writer, UPDATE, "new", k)).isEqualTo(1);
            assertThat(CacheIt.one(writer, READ, k)).as("the transaction reads its own write").isEqualTo("new");
            assertThat(CacheIt.one(writer, READ, k)).as("... every time").isEqualTo("new");

            Metrics m0 = CacheIt.metrics(pgmemo);
            assertThat(CacheIt.one(reader, READ, k)).as("other session before COMMIT").isEqualTo("old");
            Metrics m1 = CacheIt.metrics(pgmemo);
            assertThat(m1.hits() - m0.hits()).as("the other session's read is still served from cache: %s", m1.since(m0))
                    .isEqualTo(1);
            // A read that misses while the transaction is open stores the committed value (with the old tokens).
            assertThat(CacheIt.one(reader, READ_OTHER_TEXT, k)).as("other session, uncached text, before COMMIT")
                    .isEqualTo("old");

            writer.commit();

            assertThat(CacheIt.one(reader, READ, k)).as("other session right after COMMIT").isEqualTo("new");
            assertThat(CacheIt.one(reader, READ_OTHER_TEXT, k)).as("entry stored during the transaction").isEqualTo("new");
            assertThat(CacheIt.one(writer, READ, k)).as("the writer after COMMIT").isEqualTo("new");
            writer.commit();
            try (Connection late = CacheIt.connect(pgmemo, mode)) {
                assertThat(CacheIt.one(late, READ, k)).as("a new session after COMMIT").isEqualTo("new");
            }
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dev.pgmemo.it.cache.CacheIt#modesAndStores")
    void rollbackLeavesCachedValuesUnchanged(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        int k = newRow("kept");
        try (Connection writer = CacheIt.connect(pgmemo, mode); Connection reader = CacheIt.connect(pgmemo, mode)) {
            CacheIt.warm(pgmemo, reader, READ, k);
            writer.setAutoCommit(false);
            assertThat(CacheIt.update(writer, UPDATE, "rolled back", k)).isEqualTo(1);
            assertThat(CacheIt.one(writer, READ, k)).as("the transaction reads its own write").isEqualTo("rolled back");
            assertThat(CacheIt.one(writer, READ_OTHER_TEXT, k)).isEqualTo("rolled back");
            // The writer read both texts with the same session context as the reader: had pgmemo stored those
            // uncommitted results, the reader would get them now.
            assertThat(CacheIt.one(reader, READ, k)).as("other session during the transaction").isEqualTo("kept");
            assertThat(CacheIt.one(reader, READ_OTHER_TEXT, k)).as("other session during the transaction").isEqualTo("kept");

            writer.rollback();

            assertThat(CacheIt.one(reader, READ, k)).as("other session after ROLLBACK").isEqualTo("kept");
            assertThat(CacheIt.one(reader, READ_OTHER_TEXT, k)).as("other session after ROLLBACK").isEqualTo("kept");
            assertThat(CacheIt.one(writer, READ, k)).as("the writer after ROLLBACK").isEqualTo("kept");
            writer.commit();
            assertThat(CacheIt.oneDirect(READ, k)).isEqualTo("kept");
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dev.pgmemo.it.cache.CacheIt#modesAndStores")
    void repeatableReadAndSerializableTransactionsNeverReadFromTheCache(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        int k = newRow("cached");
        try (Connection c = CacheIt.connect(pgmemo, mode)) {
            CacheIt.warm(pgmemo, c, READ, k);
            CacheIt.execDirect("UPDATE " + TABLE + " SET v = 'direct' WHERE k = " + k);
            assertThat(CacheIt.one(c, READ, k)).as("autocommit read, from cache").isEqualTo("cached");

            c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
            c.setAutoCommit(false);
            assertThat(CacheIt.one(c, READ, k)).as("REPEATABLE READ snapshot").isEqualTo("direct");
            c.commit();
            c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
            assertThat(CacheIt.one(c, READ, k)).as("SERIALIZABLE snapshot").isEqualTo("direct");
            c.commit();
            c.setAutoCommit(true);
            c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);

            try (java.sql.Statement s = c.createStatement()) {
                s.execute("BEGIN ISOLATION LEVEL REPEATABLE READ");
                assertThat(CacheIt.one(c, READ, k)).as("after BEGIN ISOLATION LEVEL REPEATABLE READ").isEqualTo("direct");
                s.execute("COMMIT");
            }
        }
    }
}
