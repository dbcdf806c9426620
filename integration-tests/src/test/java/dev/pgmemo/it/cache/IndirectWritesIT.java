package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.it.cache.CacheIt.Mode;
import dev.pgmemo.it.cache.CacheIt.Store;
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
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A write through pgmemo whose effects reach other tables — a user trigger, ON DELETE CASCADE, a view over
 * the written table — invalidates the cached reads of those too.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class IndirectWritesIT {
    private static final String ID = CacheIt.uid();
    private static final String PREFIX = "memo_ind_" + ID + "_";
    private static final Map<Store, PgmemoServer> servers = new EnumMap<>(Store.class);
    private static final List<String> drops = new ArrayList<>();
    private static final AtomicInteger seq = new AtomicInteger();

    @BeforeAll
    static void setUp() {
        for (Store s : Store.values()) {
            servers.put(s, CacheIt.start(s));
        }
    }

    @AfterAll
    static void tearDown() throws Exception {
        servers.values().forEach(PgmemoServer::close);
        if (!drops.isEmpty()) {
            CacheIt.execDirect(drops.toArray(String[]::new));
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dev.pgmemo.it.cache.CacheIt#modesAndStores")
    void writeFiringATriggerInvalidatesTheTableTheTriggerWrites(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        String n = PREFIX + seq.incrementAndGet();
        String audit = n + "_audit";
        drops.add(0, "DROP TABLE IF EXISTS " + n + ", " + audit + " CASCADE");
        drops.add("DROP FUNCTION IF EXISTS " + n + "_trg()");
        CacheIt.execDirect("CREATE TABLE " + n + " (k int PRIMARY KEY, v text NOT NULL)",
                "CREATE TABLE " + audit + " (k int, v text)",
                "CREATE FUNCTION " + n + "_trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO " + audit
                        + " VALUES (NEW.k, NEW.v); RETURN NEW; END $$",
                "CREATE TRIGGER " + n + "_t AFTER INSERT OR UPDATE ON " + n + " FOR EACH ROW EXECUTE FUNCTION " + n + "_trg()");
        String readAudit = "SELECT count(*) FROM " + audit;
        try (Connection c = CacheIt.connect(pgmemo, mode); Connection other = CacheIt.connect(pgmemo, mode)) {
            assertThat(CacheIt.warm(pgmemo, other, readAudit)).containsExactly("0");
            CacheIt.update(c, "INSERT INTO " + n + " VALUES (?, ?)", 1, "x");
            assertThat(CacheIt.rows(other, readAudit)).as("the trigger's table, read after the write").containsExactly("1");
            assertThat(CacheIt.rows(c, readAudit)).containsExactly("1");
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dev.pgmemo.it.cache.CacheIt#modesAndStores")
    void deleteCascadingThroughAForeignKeyInvalidatesTheChildTable(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        String parent = PREFIX + seq.incrementAndGet();
        String child = parent + "_child";
        drops.add(0, "DROP TABLE IF EXISTS " + child + ", " + parent + " CASCADE");
        CacheIt.execDirect("CREATE TABLE " + parent + " (id int PRIMARY KEY)",
                "CREATE TABLE " + child + " (id int PRIMARY KEY, parent int NOT NULL REFERENCES " + parent
                        + " ON DELETE CASCADE)",
                "INSERT INTO " + parent + " VALUES (1), (2)",
                "INSERT INTO " + child + " VALUES (10, 1), (11, 1), (20, 2)");
        String readChildren = "SELECT id FROM " + child + " ORDER BY id";
        try (Connection c = CacheIt.connect(pgmemo, mode); Connection other = CacheIt.connect(pgmemo, mode)) {
            assertThat(CacheIt.warm(pgmemo, other, readChildren)).containsExactly("10", "11", "20");
            CacheIt.update(c, "DELETE FROM " + parent + " WHERE id = ?", 1);
            assertThat(CacheIt.rows(other, readChildren)).as("children after the cascade").containsExactly("20");
            assertThat(CacheIt.rows(c, readChildren)).containsExactly("20");
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dev.pgmemo.it.cache.CacheIt#modesAndStores")
    void writeToATableInvalidatesReadsOfAViewOverIt(Mode mode, Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        String table = PREFIX + seq.incrementAndGet();
        String view = table + "_v";
        drops.add(0, "DROP TABLE IF EXISTS " + table + " CASCADE");
        CacheIt.execDirect("CREATE TABLE " + table + " (k int PRIMARY KEY, v text NOT NULL)",
                "INSERT INTO " + table + " VALUES (1, 'a')",
                "CREATE VIEW " + view + " AS SELECT k, upper(v) AS v FROM " + table);
        String readView = "SELECT k, v FROM " + view + " ORDER BY k";
        try (Connection c = CacheIt.connect(pgmemo, mode); Connection other = CacheIt.connect(pgmemo, mode)) {
            assertThat(CacheIt.warm(pgmemo, other, readView)).containsExactly("1|A");
            CacheIt.update(c, "UPDATE " + table + " SET v = ? WHERE k = ?", "b", 1);
            assertThat(CacheIt.rows(other, readView)).as("the view after a write to its table").containsExactly("1|B");
            assertThat(CacheIt.rows(c, readView)).containsExactly("1|B");
        }
    }
}
