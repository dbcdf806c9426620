package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.it.cache.CacheIt.Mode;
import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.proxy.PgmemoServer;
import java.io.StringReader;
import java.sql.Connection;
import java.sql.PreparedStatement;
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
import org.postgresql.PGConnection;

/**
 * Every kind of write sent through pgmemo invalidates the cached reads of its table before the client
 * sees the write acknowledged: the next read on the writing connection and on another one is fresh.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class WriteInvalidationIT {
    private static final String PREFIX = "memo_w_" + CacheIt.uid() + "_";
    private static final Map<Store, PgmemoServer> servers = new EnumMap<>(Store.class);
    private static final List<String> tables = new ArrayList<>();

    /** A write sent through pgmemo, on a connection in the mode under test. */
    enum Write {
        INSERT, UPDATE, DELETE, TRUNCATE, MERGE, COPY_FROM,
        /** Several INSERTs in one pipelined batch (one Sync). */
        BATCH_INSERT,
        /** A data-modifying CTE inside a SELECT. */
        WRITING_CTE,
        /** A DO block: pgmemo cannot name what it writes. */
        DO_BLOCK,
        /** A SELECT of a VOLATILE function that writes the table. */
        VOLATILE_FUNCTION;

        void run(Connection c, String table) throws Exception {
            switch (this) {
                case BATCH_INSERT -> {
                    try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table + " (k, v) VALUES (?, ?)")) {
                        for (int k = 10; k < 13; k++) {
                            ps.setInt(1, k);
                            ps.setString(2, "batch");
                            ps.addBatch();
                        }
                        assertThat(ps.executeBatch()).hasSize(3);
                    }
                }
                case WRITING_CTE -> assertThat(CacheIt.one(c, "WITH w AS (UPDATE " + table
                        + " SET v = 'cte' WHERE k = ? RETURNING k) SELECT count(*) FROM w", 1)).isEqualTo("1");
                case DO_BLOCK -> CacheIt.update(c, "DO $$ BEGIN UPDATE " + table + " SET v = 'do' WHERE k = 2; END $$");
                case VOLATILE_FUNCTION -> assertThat(CacheIt.one(c, "SELECT " + table + "_set(?)", 1)).isEqualTo("1");
                case INSERT -> CacheIt.update(c, "INSERT INTO " + table + " (k, v) VALUES (?, ?)", 3, "c");
                case UPDATE -> CacheIt.update(c, "UPDATE " + table + " SET v = ? WHERE k = ?", "z", 1);
                case DELETE -> CacheIt.update(c, "DELETE FROM " + table + " WHERE k = ?", 2);
                case TRUNCATE -> CacheIt.update(c, "TRUNCATE " + table);
                case MERGE -> CacheIt.update(c, "MERGE INTO " + table + " t USING (VALUES (1, 'm'), (4, 'n')) s(k, v)"
                        + " ON t.k = s.k WHEN MATCHED THEN UPDATE SET v = s.v"
                        + " WHEN NOT MATCHED THEN INSERT (k, v) VALUES (s.k, s.v)");
                case COPY_FROM -> c.unwrap(PGConnection.class).getCopyAPI()
                        .copyIn("COPY " + table + " (k, v) FROM STDIN", new StringReader("5\tq\n6\tr\n"));
            }
        }
    }

    /** The writes of plain DML and COPY in every mode with both stores; the others with the in-process store (time). */
    static Stream<Arguments> writesModesAndStores() {
        return CacheIt.modesAndStores().flatMap(a -> Stream.of(Write.values())
                .filter(w -> w.ordinal() <= Write.COPY_FROM.ordinal() || a.get()[1] == Store.MEMORY)
                .map(w -> Arguments.of(w, a.get()[0], a.get()[1])));
    }

    @BeforeAll
    static void setUp() {
        for (Store s : Store.values()) {
            servers.put(s, CacheIt.start(s));
        }
    }

    @AfterAll
    static void tearDown() throws Exception {
        servers.values().forEach(PgmemoServer::close);
        if (!tables.isEmpty()) {
            CacheIt.execDirect("DROP TABLE IF EXISTS " + String.join(", ", tables) + " CASCADE");
            CacheIt.execDirect(tables.stream().map(t -> "DROP FUNCTION IF EXISTS " + t + "_set(int)").toArray(String[]::new));
        }
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("writesModesAndStores")
    void writeThroughPgmemoIsSeenByTheNextReadOnEveryConnection(Write write, Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        String table = PREFIX + tables.size();
        tables.add(table);
        CacheIt.execDirect("CREATE TABLE " + table + " (k int PRIMARY KEY, v text NOT NULL)",
                "INSERT INTO " + table + " VALUES (1, 'a'), (2, 'b')",
                "CREATE FUNCTION " + table + "_set(key int) RETURNS int VOLATILE LANGUAGE sql AS $$ UPDATE " + table
                        + " SET v = 'fn' WHERE k = key RETURNING k $$");
        String read = "SELECT k, v FROM " + table + " ORDER BY k";
        try (Connection writer = CacheIt.connect(pgmemo, mode); Connection other = CacheIt.connect(pgmemo, mode)) {
            List<String> before = CacheIt.warm(pgmemo, writer, read);
            assertThat(CacheIt.warm(pgmemo, other, read)).isEqualTo(before);

            write.run(writer, table);

            List<String> after = CacheIt.rowsDirect(read);
            assertThat(after).as("the %s changed the table", write).isNotEqualTo(before);
            assertThat(CacheIt.rows(writer, read)).as("read on the writing connection").isEqualTo(after);
            assertThat(CacheIt.rows(other, read)).as("read on another connection").isEqualTo(after);
            // And again, now that the fresh result may have been stored.
            assertThat(CacheIt.rows(other, read)).isEqualTo(after);
            assertThat(CacheIt.rows(writer, read)).isEqualTo(after);
        }
    }
}
