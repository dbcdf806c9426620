package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pgmemo.it.cache.CacheIt.HttpResult;
import dev.pgmemo.it.cache.CacheIt.Metrics;
import dev.pgmemo.it.cache.CacheIt.Mode;
import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.proxy.PgmemoServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/** Rules (TTL, first match wins, cache: false), reload of the rules file, and invalidate --all. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RulesIT {
    private static final String ID = CacheIt.uid();
    private static final String TTL_TABLE = "memo_ttl_" + ID;
    private static final String OFF_FIRST = "memo_off_first_" + ID;
    private static final String ON_FIRST = "memo_on_first_" + ID;
    private static final String PLAIN = "memo_plain_" + ID;
    private static final String RELOAD = "memo_reload_" + ID;
    private static final List<String> TABLES = List.of(TTL_TABLE, OFF_FIRST, ON_FIRST, PLAIN, RELOAD);
    private static final String RULES = ""
            + "  - match: { tables: [" + TTL_TABLE + "] }\n"
            + "    ttl: 1s\n"
            + "  - match: { tables: [" + OFF_FIRST + "] }\n"
            + "    cache: false\n"
            + "  - match: { tables: [" + OFF_FIRST + ", " + ON_FIRST + "] }\n"
            + "    ttl: 1h\n"
            + "  - match: { tables: [" + ON_FIRST + "] }\n"
            + "    cache: false\n"
            + "  - match: { pattern: \"/\\\\* nocache \\\\*/\" }\n"
            + "    cache: false\n";
    private static final Map<Store, PgmemoServer> servers = new EnumMap<>(Store.class);
    private static final AtomicInteger keys = new AtomicInteger();

    @TempDir
    static Path dir;

    @BeforeAll
    static void setUp() throws Exception {
        for (String t : TABLES) {
            CacheIt.execDirect("CREATE TABLE " + t + " (k int PRIMARY KEY, v int NOT NULL)");
        }
        for (Store s : Store.values()) {
            servers.put(s, CacheIt.start(CacheIt.yaml(s, RULES)));
        }
    }

    @AfterAll
    static void tearDown() throws Exception {
        servers.values().forEach(PgmemoServer::close);
        CacheIt.execDirect("DROP TABLE IF EXISTS " + String.join(", ", TABLES));
    }

    private static int newRow(String table, int v) throws Exception {
        int k = keys.incrementAndGet();
        CacheIt.execDirect("INSERT INTO " + table + " VALUES (" + k + ", " + v + ")");
        return k;
    }

    private static void setDirect(String table, int k, int v) throws Exception {
        CacheIt.execDirect("UPDATE " + table + " SET v = " + v + " WHERE k = " + k);
    }

    private static String read(String table) {
        return "SELECT v FROM " + table + " WHERE k = ?";
    }

    /**
     * Modes whose repeated executions send the same request every time (pgjdbc's default mode switches to a
     * named statement at the fifth execution, and prepareThreshold=1 drops the Describe after the first).
     */
    static Stream<Arguments> storesAndSomeModes() {
        List<Arguments> out = new ArrayList<>();
        for (Store s : Store.values()) {
            for (Mode m : new Mode[] {Mode.SIMPLE, Mode.UNNAMED, Mode.BINARY}) {
                out.add(Arguments.of(s, m));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("storesAndSomeModes")
    void ttlRuleBoundsHowLongADirectWriteStaysInvisible(Store store, Mode mode) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        try (Connection c = CacheIt.connect(pgmemo, mode)) {
            CacheIt.rows(c, "SELECT 1 FROM " + TTL_TABLE + " LIMIT 1"); // session context and catalog are known from here
            for (int attempt = 0; attempt < 3; attempt++) {
                int k = newRow(TTL_TABLE, 1);
                // The entry is stored after `start`, so it lives at least until start + 1s.
                long start = System.nanoTime();
                assertThat(CacheIt.one(c, read(TTL_TABLE), k)).isEqualTo("1");
                setDirect(TTL_TABLE, k, 2);
                long staleReadStart = System.nanoTime();
                String second = CacheIt.one(c, read(TTL_TABLE), k);
                if (staleReadStart - start > TimeUnit.MILLISECONDS.toNanos(800)) {
                    continue; // too slow to be sure the entry had not expired yet: try again
                }
                assertThat(second).as("cached for 1s").isEqualTo("1");

                await().atMost(Duration.ofSeconds(6)).pollInterval(Duration.ofMillis(100))
                        .until(() -> CacheIt.one(c, read(TTL_TABLE), k).equals("2"));
                assertThat(Duration.ofNanos(System.nanoTime() - start)).as("fresh only once the TTL ran out")
                        .isGreaterThanOrEqualTo(Duration.ofSeconds(1));
                return;
            }
            Assumptions.abort("the machine is too slow to read twice within 800 ms");
        }
    }

    @ParameterizedTest
    @EnumSource(Store.class)
    void firstMatchingRuleWins(Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        int off = newRow(OFF_FIRST, 1);
        int on = newRow(ON_FIRST, 1);
        try (Connection c = CacheIt.connect(pgmemo, Mode.EXTENDED)) {
            // OFF_FIRST: "cache: false" comes before a 1h rule that also matches: never cached.
            Metrics m0 = CacheIt.settledMetrics(pgmemo, c);
            assertThat(CacheIt.one(c, read(OFF_FIRST), off)).isEqualTo("1");
            assertThat(CacheIt.one(c, read(OFF_FIRST), off)).isEqualTo("1");
            setDirect(OFF_FIRST, off, 2);
            assertThat(CacheIt.one(c, read(OFF_FIRST), off)).as("cache: false matched first").isEqualTo("2");
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(m1.hits() - m0.hits()).as("%s", m1.since(m0)).isZero();
            assertThat(m1.bypasses("rule") - m0.bypasses("rule")).as("%s", m1.since(m0)).isEqualTo(3);

            // ON_FIRST: the 1h rule comes before "cache: false": cached.
            assertThat(CacheIt.one(c, read(ON_FIRST), on)).isEqualTo("1");
            assertThat(CacheIt.one(c, read(ON_FIRST), on)).isEqualTo("1");
            setDirect(ON_FIRST, on, 2);
            assertThat(CacheIt.one(c, read(ON_FIRST), on)).as("the 1h rule matched first").isEqualTo("1");
            Metrics m2 = CacheIt.metrics(pgmemo, c);
            assertThat(m2.hits() - m1.hits()).as("%s", m2.since(m1)).isEqualTo(2);
        }
    }

    @ParameterizedTest
    @EnumSource(Store.class)
    void cacheFalseRuleByPatternKeepsAQueryOutWhileTheSameReadWithoutItIsCached(Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        int k = newRow(PLAIN, 1);
        String nocache = "/* nocache */ " + read(PLAIN);
        try (Connection c = CacheIt.connect(pgmemo, Mode.SIMPLE)) {
            Metrics m0 = CacheIt.settledMetrics(pgmemo, c);
            assertThat(CacheIt.one(c, nocache, k)).isEqualTo("1");
            assertThat(CacheIt.one(c, read(PLAIN), k)).isEqualTo("1");
            assertThat(CacheIt.one(c, nocache, k)).isEqualTo("1");
            setDirect(PLAIN, k, 2);
            assertThat(CacheIt.one(c, nocache, k)).as("never cached").isEqualTo("2");
            assertThat(CacheIt.one(c, read(PLAIN), k)).as("cached").isEqualTo("1");
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(m1.bypasses("rule") - m0.bypasses("rule")).as("%s", m1.since(m0)).isEqualTo(3);
            assertThat(m1.hits() - m0.hits()).as("%s", m1.since(m0)).isEqualTo(1);
        }
    }

    @ParameterizedTest
    @EnumSource(Store.class)
    void invalidateAllMakesEveryCachedResultFresh(Store store) throws Exception {
        PgmemoServer pgmemo = servers.get(store);
        int a = newRow(PLAIN, 10);
        int b = newRow(ON_FIRST, 20);
        try (Connection c = CacheIt.connect(pgmemo, Mode.BINARY)) {
            CacheIt.warm(pgmemo, c, read(PLAIN), a);
            CacheIt.warm(pgmemo, c, read(ON_FIRST), b);
            setDirect(PLAIN, a, 11);
            setDirect(ON_FIRST, b, 21);
            assertThat(CacheIt.one(c, read(PLAIN), a)).isEqualTo("10");
            assertThat(CacheIt.one(c, read(ON_FIRST), b)).isEqualTo("20");

            CacheIt.invalidateAll(pgmemo);

            assertThat(CacheIt.one(c, read(PLAIN), a)).isEqualTo("11");
            assertThat(CacheIt.one(c, read(ON_FIRST), b)).isEqualTo("21");
        }
    }

    @ParameterizedTest
    @EnumSource(Store.class)
    void reloadAppliesNewRulesToOpenConnectionsAndRefusesAnInvalidFile(Store store) throws Exception {
        Path file = dir.resolve("reload-" + store + ".yaml");
        String off = CacheIt.yaml(store, "  - match: { tables: [" + RELOAD + "] }\n    cache: false\n");
        String on = CacheIt.yaml(store, "  - match: { tables: [" + RELOAD + "] }\n    ttl: 1h\n");
        Files.writeString(file, off);
        int k = newRow(RELOAD, 1);
        try (PgmemoServer pgmemo = CacheIt.startFromFile(file); Connection c = CacheIt.connect(pgmemo, Mode.EXTENDED)) {
            assertThat(CacheIt.one(c, read(RELOAD), k)).isEqualTo("1");
            setDirect(RELOAD, k, 2);
            assertThat(CacheIt.one(c, read(RELOAD), k)).as("not cached under the first rules").isEqualTo("2");

            Files.writeString(file, on);
            HttpResult reload = CacheIt.post(pgmemo, "/reload");
            assertThat(reload.status()).as(reload.body()).isEqualTo(200);
            assertThat(CacheIt.one(c, read(RELOAD), k)).isEqualTo("2");
            setDirect(RELOAD, k, 3);
            assertThat(CacheIt.one(c, read(RELOAD), k)).as("cached after the reload, same connection").isEqualTo("2");

            Files.writeString(file, on.replace("ttl: 1h", "ttl: forever"));
            HttpResult refused = CacheIt.post(pgmemo, "/reload");
            assertThat(refused.status()).as(refused.body()).isEqualTo(400);
            assertThat(refused.body()).contains("reload-" + store + ".yaml").contains("ttl");
            assertThat(CacheIt.one(c, read(RELOAD), k)).as("the old rules stay after a refused reload").isEqualTo("2");

            Files.writeString(file, off);
            reload = CacheIt.post(pgmemo, "/reload");
            assertThat(reload.status()).as(reload.body()).isEqualTo(200);
            assertThat(CacheIt.one(c, read(RELOAD), k)).as("not cached again after reloading cache: false").isEqualTo("3");
        }
    }
}
