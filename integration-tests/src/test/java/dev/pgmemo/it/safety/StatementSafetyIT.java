package dev.pgmemo.it.safety;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * "Never wrong" for what a statement reads and what it changes: non-immutable functions, views, materialized
 * views, partitions, temporary tables, catalogs, DDL and writes with side effects (triggers, cascades, DO,
 * CALL, volatile functions).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class StatementSafetyIT extends SafetyIt {
    private String alice;

    @Override
    protected String databaseName() {
        return "stmt";
    }

    @BeforeAll
    void setUpRoles() throws SQLException {
        alice = db.role("alice");
    }


    private static String n(String base, Mode mode) {
        return base + "_" + mode.name().toLowerCase(Locale.ROOT);
    }

    private String direct1(String sql) throws SQLException {
        try (Connection c = db.direct()) {
            return Sql.one(c, sql);
        }
    }

    // ---- functions ---------------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void nonImmutableBuiltinsAreNeverCached(Mode mode) throws SQLException {
        String t = n("fn_one", mode);
        String seq = n("fn_seq", mode);
        db.exec("CREATE TABLE " + t + " (id int)", "INSERT INTO " + t + " VALUES (1)", "CREATE SEQUENCE " + seq);
        List<String> exprs = List.of("now()", "current_timestamp", "clock_timestamp()", "random()",
                "gen_random_uuid()", "nextval('" + seq + "')", "currval('" + seq + "')", "setval('" + seq + "', 100)",
                "txid_current()", "pg_sleep(0)", "current_setting('TimeZone')");
        try (Connection c = memo.connect(db.name, mode)) {
            assertThat(memo.warm(c, "SELECT id FROM " + t)).as("control: a plain read is cached").containsExactly("1");
            for (String e : exprs) {
                String q = "SELECT id, " + e + " AS x FROM " + t;
                Memo.Counters before = memo.counters();
                List<String> results = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    results.add(Sql.one(c, q));
                    Memo.sleep(50); // a store, if one wrongly happened, lands before the next run
                }
                Memo.Counters after = memo.counters();
                assertThat(after.hits()).as("hits for %s", e).isEqualTo(before.hits());
                assertThat(after.stores()).as("stores for %s", e).isEqualTo(before.stores());
                if (e.startsWith("nextval")) {
                    assertThat(results).as("nextval through pgmemo").doesNotHaveDuplicates();
                }
                if (e.startsWith("random") || e.startsWith("gen_random_uuid") || e.startsWith("clock_timestamp")) {
                    assertThat(results).as("%s through pgmemo", e).doesNotHaveDuplicates();
                }
            }
            assertThat(Sql.one(c, "SELECT id, nextval('" + seq + "') FROM " + t)).isEqualTo("1|101");
        }
    }

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void functionRedefinedFromImmutableToVolatileStopsBeingCached(Mode mode) throws SQLException {
        String t = n("redef_t", mode);
        String f = n("redef_f", mode);
        String seq = n("redef_seq", mode);
        db.exec("CREATE TABLE " + t + " (id int)", "INSERT INTO " + t + " VALUES (7)", "CREATE SEQUENCE " + seq);
        String q = "SELECT " + f + "(id) FROM " + t;
        try (Connection c = memo.connect(db.name, mode)) {
            Sql.exec(c, "CREATE FUNCTION " + f + "(x int) RETURNS bigint IMMUTABLE LANGUAGE sql AS 'SELECT x * 2'");
            assertThat(memo.warm(c, q)).containsExactly("14");
            Sql.exec(c, "CREATE OR REPLACE FUNCTION " + f + "(x int) RETURNS bigint VOLATILE LANGUAGE sql"
                    + " AS 'SELECT x * 1000 + nextval(''" + seq + "'')'");
            Memo.Counters before = memo.counters();
            List<String> results = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                results.add(Sql.one(c, q));
                Memo.sleep(50); // a store, if one wrongly happened, lands before the next run
            }
            assertThat(results).as("the volatile function's results").containsExactly("7001", "7002", "7003");
            Memo.Counters after = memo.counters();
            assertThat(after.hits()).isEqualTo(before.hits());
            assertThat(after.stores()).isEqualTo(before.stores());
        }
    }

    // ---- views, materialized views, partitions -----------------------------------------------------------

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void viewsNestedViewsAndMaterializedViewsFollowTheirBaseTables(Mode mode) throws SQLException {
        String base = n("vbase", mode);
        String v1 = n("v1", mode);
        String v2 = n("v2", mode);
        String mv = n("mv", mode);
        db.exec("CREATE TABLE " + base + " (id int, v text)", "INSERT INTO " + base + " VALUES (1, 'x')",
                "CREATE VIEW " + v1 + " AS SELECT id, v FROM " + base,
                "CREATE VIEW " + v2 + " AS SELECT v FROM " + v1 + " WHERE id > 0",
                "CREATE MATERIALIZED VIEW " + mv + " AS SELECT v FROM " + base);
        String q1 = "SELECT v FROM " + v1 + " ORDER BY v";
        String q2 = "SELECT v FROM " + v2 + " ORDER BY v";
        String qm = "SELECT v FROM " + mv + " ORDER BY v";
        try (Connection r = memo.connect(db.name, mode); Connection w = memo.connect(db.name, mode)) {
            assertThat(memo.warm(r, q1)).containsExactly("x");
            assertThat(memo.warm(r, q2)).containsExactly("x");
            assertThat(memo.warm(r, qm)).containsExactly("x");

            Sql.exec(w, "INSERT INTO " + base + " VALUES (2, 'y')");
            assertThat(Sql.rows(r, q2)).as("view on a view after a write to its base").containsExactly("x", "y");
            assertThat(Sql.rows(r, q1)).as("view after a write to its base").containsExactly("x", "y");
            assertThat(Sql.rows(r, qm)).as("materialized view, not refreshed").containsExactly("x");

            db.exec("INSERT INTO " + base + " VALUES (3, 'z')"); // bypasses pgmemo
            assertThat(memo.warm(r, qm)).containsExactly("x");
            Sql.exec(w, "REFRESH MATERIALIZED VIEW " + mv);
            assertThat(Sql.rows(r, qm)).as("after REFRESH MATERIALIZED VIEW through pgmemo").containsExactly("x", "y", "z");
        }
    }

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void writesToAPartitionInvalidateTheParentAndViceVersa(Mode mode) throws SQLException {
        String p = n("part", mode);
        db.exec("CREATE TABLE " + p + " (k int, v text) PARTITION BY LIST (k)",
                "CREATE TABLE " + p + "_1 PARTITION OF " + p + " FOR VALUES IN (1)",
                "CREATE TABLE " + p + "_2 PARTITION OF " + p + " FOR VALUES IN (2, 3) PARTITION BY LIST (k)",
                "CREATE TABLE " + p + "_2a PARTITION OF " + p + "_2 FOR VALUES IN (2)",
                "CREATE TABLE " + p + "_2b PARTITION OF " + p + "_2 FOR VALUES IN (3)",
                "INSERT INTO " + p + " VALUES (1, 'a'), (2, 'b'), (3, 'c')");
        String parent = "SELECT k, v FROM " + p + " ORDER BY k, v";
        String leaf = "SELECT v FROM " + p + "_2a ORDER BY v";
        String mid = "SELECT v FROM " + p + "_2 ORDER BY v";
        try (Connection r = memo.connect(db.name, mode); Connection w = memo.connect(db.name, mode)) {
            assertThat(memo.warm(r, parent)).containsExactly("1|a", "2|b", "3|c");
            assertThat(memo.warm(r, leaf)).containsExactly("b");
            assertThat(memo.warm(r, mid)).containsExactly("b", "c");

            Sql.exec(w, "INSERT INTO " + p + "_1 VALUES (1, 'a2')");
            assertThat(Sql.rows(r, parent)).as("parent after a write to a partition").containsExactly("1|a", "1|a2", "2|b", "3|c");

            Sql.exec(w, "INSERT INTO " + p + " VALUES (2, 'b2')");
            assertThat(Sql.rows(r, leaf)).as("leaf partition after a write to the parent").containsExactly("b", "b2");
            assertThat(Sql.rows(r, mid)).as("sub-partitioned partition after a write to the parent").containsExactly("b", "b2", "c");

            assertThat(memo.warm(r, parent)).hasSize(5);
            Sql.exec(w, "DELETE FROM " + p + "_2b");
            assertThat(Sql.rows(r, parent)).as("parent after a delete in a sub-partition").containsExactly("1|a", "1|a2", "2|b", "2|b2");
            assertThat(Sql.rows(r, mid)).containsExactly("b", "b2");

            assertThat(memo.warm(r, leaf)).containsExactly("b", "b2");
            Sql.exec(w, "UPDATE " + p + " SET v = v || '!' WHERE k = 2");
            assertThat(Sql.rows(r, leaf)).as("leaf after an UPDATE of the parent").containsExactly("b!", "b2!");
        }
    }

    // ---- temporary tables and catalogs -------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void temporaryTableShadowingAPermanentOneIsWhatTheSessionReads(Mode mode) throws SQLException {
        String t = n("shadow", mode);
        db.exec("CREATE TABLE " + t + " (v text)", "INSERT INTO " + t + " VALUES ('permanent')");
        String q = "SELECT v FROM " + t + " ORDER BY v";
        try (Connection a = memo.connect(db.name, mode); Connection b = memo.connect(db.name, mode);
                Connection c = memo.connect(db.name, mode); Connection other = memo.connect(db.name, mode)) {
            assertThat(memo.warm(a, q)).containsExactly("permanent");
            assertThat(memo.warm(b, q)).containsExactly("permanent");
            assertThat(memo.warm(c, q)).containsExactly("permanent");

            Sql.exec(a, "CREATE TEMP TABLE " + t + " (v text)", "INSERT INTO " + t + " VALUES ('temporary')");
            Sql.exec(b, "DO $$ BEGIN CREATE TEMP TABLE " + t + " AS SELECT 'from-do'::text AS v; END $$");
            Sql.exec(c, "SELECT 'from-select-into'::text AS v INTO TEMP TABLE " + t);
            Memo.Counters before = memo.counters();
            for (int i = 0; i < 3; i++) {
                assertThat(Sql.rows(a, q)).as("CREATE TEMP TABLE").containsExactly("temporary");
                assertThat(Sql.rows(b, q)).as("temp table created in a DO block").containsExactly("from-do");
                assertThat(Sql.rows(c, q)).as("SELECT INTO TEMP").containsExactly("from-select-into");
                Memo.sleep(50); // a store, if one wrongly happened, lands before the next run
            }
            assertThat(memo.counters().hits()).as("hits in sessions with temporary tables").isEqualTo(before.hits());
            assertThat(Sql.rows(other, q)).as("another session still reads the permanent table").containsExactly("permanent");
        }
    }

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void systemCatalogsAndInformationSchemaAreNeverCached(Mode mode) throws SQLException {
        String prefix = n("catprobe", mode) + "_";
        List<String> queries = List.of(
                "SELECT count(*) FROM pg_catalog.pg_class WHERE relname LIKE '" + prefix + "%'",
                "SELECT count(*) FROM pg_class WHERE relname LIKE '" + prefix + "%'",
                "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '" + prefix + "%'",
                "SELECT count(*) FROM pg_tables WHERE tablename LIKE '" + prefix + "%'");
        try (Connection c = memo.connect(db.name, mode)) {
            String control = n("catctl", mode);
            db.exec("CREATE TABLE " + control + " (id int)");
            memo.warm(c, "SELECT count(*) FROM " + control);
            Memo.Counters before = memo.counters();
            for (int i = 1; i <= 3; i++) {
                db.exec("CREATE TABLE " + prefix + i + " (id int)"); // bypasses pgmemo
                for (String q : queries) {
                    assertThat(Sql.one(c, q)).as("%s after %d tables were created", q, i).isEqualTo(String.valueOf(i));
                }
                Memo.sleep(50); // a store, if one wrongly happened, lands before the next run
            }
            assertThat(memo.counters().hits()).isEqualTo(before.hits());
            assertThat(memo.counters().stores()).isEqualTo(before.stores());
        }
    }

    // ---- DDL ---------------------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void ddlThroughPgmemoIsFollowed(Mode mode) throws SQLException {
        String t = n("ddl_t", mode);
        String v = n("ddl_v", mode);
        db.exec("CREATE TABLE " + t + " (id int)", "INSERT INTO " + t + " VALUES (1)",
                "CREATE VIEW " + v + " AS SELECT id FROM " + t);
        String star = "SELECT * FROM " + t + " ORDER BY id";
        String view = "SELECT * FROM " + v + " ORDER BY id";
        try (Connection r = memo.connect(db.name, mode); Connection w = memo.connect(db.name, mode)) {
            assertThat(memo.warm(r, star)).containsExactly("1");
            Sql.exec(w, "ALTER TABLE " + t + " ADD COLUMN extra int DEFAULT 7");
            try (Connection fresh = memo.connect(db.name, mode)) {
                assertThat(Sql.rows(fresh, star)).as("SELECT * in a new session after ADD COLUMN").containsExactly("1|7");
            }
            assertThat(Sql.rows(r, star)).as("SELECT * in the same session after ADD COLUMN").containsExactly("1|7");

            assertThat(memo.warm(r, view)).containsExactly("1");
            Sql.exec(w, "CREATE OR REPLACE VIEW " + v + " AS SELECT id, id * 10 AS tens FROM " + t);
            try (Connection fresh = memo.connect(db.name, mode)) {
                assertThat(Sql.rows(fresh, view)).as("after CREATE OR REPLACE VIEW").containsExactly("1|10");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void revokedRoleIsNotServedWhatItReadBefore(Mode mode) throws SQLException {
        String t = n("grant_t", mode);
        db.exec("CREATE TABLE " + t + " (v text)", "INSERT INTO " + t + " VALUES ('granted')");
        String q = "SELECT v FROM " + t;
        try (Connection admin = memo.connect(db.name, mode); Connection a = memo.connect(db.name, alice, mode)) {
            assertThat(Sql.sqlStateOf(a, q)).as("before GRANT").isEqualTo("42501");
            Sql.exec(admin, "GRANT SELECT ON " + t + " TO " + alice);
            assertThat(memo.warm(a, q)).containsExactly("granted");
            Sql.exec(admin, "REVOKE SELECT ON " + t + " FROM " + alice);
            assertThat(Sql.sqlStateOf(a, q)).as("same session after REVOKE").isEqualTo("42501");
            try (Connection a2 = memo.connect(db.name, alice, mode)) {
                assertThat(Sql.sqlStateOf(a2, q)).as("new session after REVOKE").isEqualTo("42501");
            }
            Sql.exec(admin, "GRANT SELECT ON " + t + " TO " + alice);
            assertThat(Sql.rows(a, q)).containsExactly("granted");
        }
    }

    /**
     * Instances share one Redis (DESIGN.md, "Scale"), so DDL through one must be followed by the others: here
     * a trigger is added through instance A to a table that instance B has already written (and so looked up
     * in the catalog), then B writes the table and the trigger writes another one.
     */
    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE"})
    void ddlThroughAnotherInstanceIsFollowed(Mode mode) throws SQLException {
        String t = n("multi_t", mode);
        String u = n("multi_u", mode);
        db.exec("CREATE TABLE " + t + " (id int)", "CREATE TABLE " + u + " (n int)", "INSERT INTO " + u + " VALUES (0)");
        String readU = "SELECT n FROM " + u;
        try (Memo other = Memo.start(); Connection a = memo.connect(db.name, mode); Connection b = other.connect(db.name, mode)) {
            Sql.exec(b, "INSERT INTO " + t + " VALUES (1)");
            assertThat(other.warm(b, "SELECT count(*) FROM " + t)).containsExactly("1");
            Sql.exec(a, "CREATE FUNCTION " + t + "_trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                    + " UPDATE " + u + " SET n = n + 1; RETURN NEW; END $$",
                    "CREATE TRIGGER bump AFTER INSERT ON " + t + " FOR EACH ROW EXECUTE FUNCTION " + t + "_trg()");
            assertThat(memo.warm(a, readU)).containsExactly("0");
            Sql.exec(b, "INSERT INTO " + t + " VALUES (2)");
            assertThat(Sql.rows(a, readU)).as("read through A after B's write fired the trigger added through A")
                    .containsExactly("1");
            assertThat(Sql.rows(b, readU)).as("read through B").containsExactly("1");
        }
    }

    // ---- side effects ------------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void sideEffectsOfWritesThroughPgmemoAreNeverServedStale(Mode mode) throws SQLException {
        String t = n("se_t", mode);
        String u = n("se_u", mode);
        String parent = n("se_parent", mode);
        String child = n("se_child", mode);
        db.exec("CREATE TABLE " + u + " (n int)", "INSERT INTO " + u + " VALUES (0)",
                "CREATE TABLE " + t + " (id int)",
                "CREATE FUNCTION " + t + "_trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                        + " UPDATE " + u + " SET n = n + 1; RETURN NEW; END $$",
                "CREATE TRIGGER bump AFTER INSERT ON " + t + " FOR EACH ROW EXECUTE FUNCTION " + t + "_trg()",
                "CREATE TABLE " + parent + " (id int PRIMARY KEY)",
                "CREATE TABLE " + child + " (id int, pid int REFERENCES " + parent + " ON DELETE CASCADE)",
                "INSERT INTO " + parent + " VALUES (1), (2)",
                "INSERT INTO " + child + " VALUES (10, 1), (20, 2)",
                "CREATE PROCEDURE " + u + "_proc() LANGUAGE sql AS 'UPDATE " + u + " SET n = n + 1000'",
                "CREATE FUNCTION " + u + "_fn() RETURNS int VOLATILE LANGUAGE sql AS"
                        + " 'UPDATE " + u + " SET n = n + 10000 RETURNING n'");
        String readU = "SELECT n FROM " + u;
        String readChild = "SELECT id FROM " + child + " ORDER BY id";
        try (Connection r = memo.connect(db.name, mode); Connection w = memo.connect(db.name, mode)) {
            assertThat(memo.warm(r, readU)).containsExactly("0");
            Sql.exec(w, "INSERT INTO " + t + " VALUES (1)");
            assertThat(Sql.rows(r, readU)).as("after an INSERT whose trigger writes " + u).containsExactly("1");
            assertThat(Sql.rows(w, readU)).containsExactly("1");

            // Now pgmemo knows the table: a second write must still be followed.
            assertThat(memo.warm(r, readU)).containsExactly("1");
            Sql.exec(w, "INSERT INTO " + t + " VALUES (2)");
            assertThat(Sql.rows(r, readU)).as("after a second INSERT with the trigger").containsExactly("2");

            assertThat(memo.warm(r, readChild)).containsExactly("10", "20");
            Sql.exec(w, "DELETE FROM " + parent + " WHERE id = 1");
            assertThat(Sql.rows(r, readChild)).as("after ON DELETE CASCADE").containsExactly("20");

            assertThat(memo.warm(r, readU)).containsExactly("2");
            Sql.exec(w, "DO $$ BEGIN UPDATE " + u + " SET n = n + 100; END $$");
            assertThat(Sql.rows(r, readU)).as("after a DO block").containsExactly("102");

            assertThat(memo.warm(r, readU)).containsExactly("102");
            Sql.exec(w, "CALL " + u + "_proc()");
            assertThat(Sql.rows(r, readU)).as("after CALL").containsExactly("1102");

            assertThat(memo.warm(r, readU)).containsExactly("1102");
            assertThat(Sql.one(w, "SELECT " + u + "_fn()")).isEqualTo("11102");
            assertThat(Sql.rows(r, readU)).as("after SELECT of a volatile function that writes").containsExactly("11102");

            assertThat(Sql.rows(r, readU)).containsExactly(direct1(readU));
        }
    }
}
