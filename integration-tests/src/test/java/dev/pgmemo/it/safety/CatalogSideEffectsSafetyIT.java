package dev.pgmemo.it.safety;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * "Never wrong" where what a statement does depends on catalog facts beyond its own text: rules, triggers on
 * tables reached by cascades, user functions in defaults and constraints, foreign tables, user aggregates,
 * parameter defaults, name resolution that depends on the role, and write targets pgmemo cannot find.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class CatalogSideEffectsSafetyIT extends SafetyIt {

    @Override
    protected String databaseName() {
        return "catfx";
    }


    /** Reads {@code sql} three times and asserts no run was served from the cache; returns the rows of each run. */
    private List<List<String>> neverHit(Connection c, String sql) throws SQLException {
        Memo.Counters before = memo.counters();
        List<List<String>> runs = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            runs.add(Sql.rows(c, sql));
            Memo.sleep(50); // a store, if one wrongly happened, lands before the next run
        }
        assertThat(memo.counters().hits()).as("hits for %s", sql).isEqualTo(before.hits());
        return runs;
    }

    // ---- writes whose effects reach other tables --------------------------------------------------------------

    @Test
    void ruleOnAPlainTableInvalidatesTheTableItsActionWrites() throws SQLException {
        db.exec("CREATE TABLE rule_t (k int)", "CREATE TABLE rule_log (k int)",
                "CREATE RULE rule_t_log AS ON INSERT TO rule_t DO ALSO INSERT INTO rule_log VALUES (NEW.k)");
        try (Connection c = memo.connect(db.name, Mode.SIMPLE)) {
            assertThat(memo.warm(c, "SELECT count(*) FROM rule_log")).containsExactly("0");
            Sql.exec(c, "INSERT INTO rule_t VALUES (1)");
            assertThat(Sql.rows(c, "SELECT count(*) FROM rule_log")).as("the rule's table after the write").containsExactly("1");
        }
    }

    @Test
    void triggerOnATableReachedByACascadeInvalidatesTheTableItWrites() throws SQLException {
        db.exec("CREATE TABLE casc_parent (id int PRIMARY KEY)",
                "CREATE TABLE casc_child (id int PRIMARY KEY, parent int REFERENCES casc_parent ON DELETE CASCADE)",
                "CREATE TABLE casc_audit (id int)",
                "CREATE FUNCTION casc_trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO casc_audit VALUES (OLD.id); RETURN OLD; END $$",
                "CREATE TRIGGER casc_child_t AFTER DELETE ON casc_child FOR EACH ROW EXECUTE FUNCTION casc_trg()",
                "INSERT INTO casc_parent VALUES (1)", "INSERT INTO casc_child VALUES (10, 1)");
        try (Connection c = memo.connect(db.name, Mode.SIMPLE)) {
            assertThat(memo.warm(c, "SELECT count(*) FROM casc_audit")).containsExactly("0");
            Sql.exec(c, "DELETE FROM casc_parent WHERE id = 1");
            assertThat(Sql.rows(c, "SELECT count(*) FROM casc_audit")).as("the trigger's table after the cascade").containsExactly("1");
        }
    }

    @Test
    void columnDefaultCallingAUserFunctionInvalidatesWhatTheFunctionWrites() throws SQLException {
        db.exec("CREATE TABLE def_log (v int)",
                "CREATE FUNCTION def_writer() RETURNS int LANGUAGE plpgsql AS $$ BEGIN INSERT INTO def_log VALUES (1); RETURN 1; END $$",
                "CREATE TABLE def_t (k int, v int DEFAULT def_writer())");
        try (Connection c = memo.connect(db.name, Mode.SIMPLE)) {
            assertThat(memo.warm(c, "SELECT count(*) FROM def_log")).containsExactly("0");
            Sql.exec(c, "INSERT INTO def_t (k) VALUES (1)");
            assertThat(Sql.rows(c, "SELECT count(*) FROM def_log")).as("the default's table after the write").containsExactly("1");
        }
    }

    @Test
    void checkConstraintCallingAUserFunctionInvalidatesWhatTheFunctionWrites() throws SQLException {
        db.exec("CREATE TABLE chk_log (v int)",
                "CREATE FUNCTION chk_writer(v int) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN INSERT INTO chk_log VALUES (v); RETURN true; END $$",
                "CREATE TABLE chk_t (k int CHECK (chk_writer(k)))");
        try (Connection c = memo.connect(db.name, Mode.SIMPLE)) {
            assertThat(memo.warm(c, "SELECT count(*) FROM chk_log")).containsExactly("0");
            Sql.exec(c, "INSERT INTO chk_t VALUES (1)");
            assertThat(Sql.rows(c, "SELECT count(*) FROM chk_log")).as("the check's table after the write").containsExactly("1");
        }
    }

    /**
     * A postgres_fdw foreign table whose remote table is in another database behind the same pgmemo: the write
     * must reach cached reads there too (the global epoch).
     */
    @Test
    void writeToAForeignTableInvalidatesTheRemoteTableInAnotherDatabase() throws SQLException {
        String remote = db.createDatabase("catfx_remote");
        try (Connection r = Sql.direct(remote)) {
            Sql.exec(r, "CREATE TABLE fdw_target (k int)");
        }
        try {
            db.exec("CREATE EXTENSION IF NOT EXISTS postgres_fdw");
        } catch (SQLException e) {
            assumeTrue(false, "postgres_fdw is not available on this server (" + e.getMessage()
                    + "): the foreign-table write case is not tested");
        }
        db.exec("CREATE SERVER fdw_loop FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '" + Sql.PG_HOST
                        + "', port '" + Sql.PG_PORT + "', dbname '" + remote + "')",
                "CREATE USER MAPPING FOR CURRENT_USER SERVER fdw_loop OPTIONS (user '" + Sql.SUPERUSER + "')",
                "CREATE FOREIGN TABLE fdw_remote (k int) SERVER fdw_loop OPTIONS (table_name 'fdw_target')");
        try (Connection c = memo.connect(db.name, Mode.SIMPLE); Connection other = memo.connect(remote, Mode.SIMPLE)) {
            assertThat(memo.warm(other, "SELECT count(*) FROM fdw_target")).containsExactly("0");
            // The writing session has read its context (pgmemo learns a write target's catalog facts only then;
            // before, a write invalidates its own database only: see docs/consistency.md).
            Sql.rows(c, "SELECT 1");
            Sql.exec(c, "INSERT INTO fdw_remote VALUES (1)");
            assertThat(Sql.rows(other, "SELECT count(*) FROM fdw_target"))
                    .as("the remote table, in another database, after a write to the foreign table").containsExactly("1");
        }
    }

    // ---- functions whose volatility is not their provolatile ----------------------------------------------

    @Test
    void userAggregateWithAVolatileTransitionFunctionIsNeverCached() throws SQLException {
        db.exec("CREATE TABLE agg_src (v int)", "INSERT INTO agg_src VALUES (1), (2)",
                "CREATE TABLE agg_log (v int)",
                "CREATE FUNCTION agg_step(s int, v int) RETURNS int VOLATILE LANGUAGE plpgsql AS $$ BEGIN INSERT INTO agg_log VALUES (v); RETURN coalesce(s, 0) + v; END $$",
                "CREATE AGGREGATE agg_logging_sum(int) (SFUNC = agg_step, STYPE = int)",
                "CREATE AGGREGATE agg_pure_sum(int) (SFUNC = int4pl, STYPE = int, INITCOND = '0')");
        try (Connection c = memo.connect(db.name, Mode.SIMPLE)) {
            assertThat(memo.warm(c, "SELECT agg_pure_sum(v) FROM agg_src"))
                    .as("control: a user aggregate over immutable functions is cached").containsExactly("3");
            neverHit(c, "SELECT agg_logging_sum(v) FROM agg_src");
            assertThat(Sql.rows(c, "SELECT count(*) FROM agg_log")).as("every run called the transition function")
                    .containsExactly("6");
        }
    }

    @Test
    void functionWithAVolatileParameterDefaultIsNeverCached() throws SQLException {
        db.exec("CREATE FUNCTION dflt_fn(t0 timestamptz, t1 timestamptz DEFAULT clock_timestamp()) RETURNS text"
                + " IMMUTABLE LANGUAGE sql AS $$ SELECT t1::text $$",
                "CREATE FUNCTION dflt_none(t0 timestamptz) RETURNS text IMMUTABLE LANGUAGE sql AS $$ SELECT 'x' $$");
        try (Connection c = memo.connect(db.name, Mode.SIMPLE)) {
            assertThat(memo.warm(c, "SELECT dflt_none('2020-01-01')"))
                    .as("control: an immutable user function without defaults is cached").containsExactly("x");
            List<List<String>> runs = neverHit(c, "SELECT dflt_fn('2020-01-01')");
            assertThat(runs.get(0)).isNotEqualTo(runs.get(2));
        }
    }

    // ---- name resolution ------------------------------------------------------------------------------------

    /**
     * The same search_path text resolves {@code rv} to a plain table for a role without USAGE on the first
     * schema and to a view calling random() for a role with it: the second role must not use the first's
     * resolution.
     */
    @Test
    void nameResolutionThatDependsOnSchemaPrivilegesIsNotSharedAcrossRoles() throws SQLException {
        String noUsage = db.role("nousage");
        String withUsage = db.role("usage");
        db.exec("CREATE SCHEMA rs", "CREATE VIEW rs.rv AS SELECT random() AS x",
                "CREATE TABLE public.rv (x float8)", "INSERT INTO public.rv VALUES (0.5)",
                "GRANT SELECT ON public.rv TO " + noUsage + ", " + withUsage,
                "GRANT USAGE ON SCHEMA rs TO " + withUsage, "GRANT SELECT ON rs.rv TO " + withUsage);
        try (Connection a = memo.connect(db.name, noUsage, Mode.SIMPLE);
                Connection b = memo.connect(db.name, withUsage, Mode.SIMPLE)) {
            Sql.exec(a, "SET search_path TO rs, public");
            Sql.exec(b, "SET search_path TO rs, public");
            // Both sessions have read their context already (a first cacheable query each), so the second
            // role's first read of rv uses what pgmemo remembers instead of asking with its context ...
            assertThat(memo.warm(a, "SELECT x FROM public.rv")).containsExactly("0.5");
            assertThat(memo.warm(b, "SELECT x FROM public.rv")).containsExactly("0.5");
            // ... and the first role resolves the unqualified name first.
            assertThat(memo.warm(a, "SELECT x FROM rv")).containsExactly("0.5");
            List<List<String>> runs = neverHit(b, "SELECT x FROM rv");
            assertThat(runs.get(0)).isNotEqualTo(runs.get(1));
        }
    }

    /**
     * A session with a temporary table resolves its name to that table; another session of the same user under
     * the same search_path resolves it to the permanent table, whose trigger writes elsewhere.
     */
    @Test
    void temporaryTableOfOneSessionDoesNotHideThePermanentTablesTriggerFromAnother() throws SQLException {
        db.exec("CREATE TABLE tmp_shadow (k int)", "CREATE TABLE tmp_audit (k int)",
                "CREATE FUNCTION tmp_trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO tmp_audit VALUES (NEW.k); RETURN NEW; END $$",
                "CREATE TRIGGER tmp_shadow_t AFTER INSERT ON tmp_shadow FOR EACH ROW EXECUTE FUNCTION tmp_trg()");
        try (Connection a = memo.connect(db.name, Mode.SIMPLE); Connection b = memo.connect(db.name, Mode.SIMPLE)) {
            Sql.exec(a, "CREATE TEMP TABLE tmp_shadow (k int)");
            Sql.rows(a, "SELECT 1"); // reads a's context again (now with a temporary schema)
            Sql.exec(a, "INSERT INTO tmp_shadow VALUES (1)"); // pgmemo looks tmp_shadow up for a
            assertThat(memo.warm(b, "SELECT count(*) FROM tmp_audit")).containsExactly("0");
            Sql.exec(b, "INSERT INTO tmp_shadow VALUES (2)");
            assertThat(Sql.rows(b, "SELECT count(*) FROM tmp_audit")).as("the trigger's table after b's write")
                    .containsExactly("1");
        }
    }

    /** pgmemo's analyzer may not decode a U&"..." name; the write must then invalidate the whole database. */
    @Test
    void writeToATargetTheCatalogCannotFindInvalidatesTheDatabase() throws SQLException {
        db.exec("CREATE TABLE uesc (k int)");
        try (Connection c = memo.connect(db.name, Mode.SIMPLE)) {
            assertThat(memo.warm(c, "SELECT count(*) FROM uesc")).containsExactly("0");
            Sql.exec(c, "INSERT INTO U&\"u\\0065sc\" VALUES (1)");
            assertThat(Sql.rows(c, "SELECT count(*) FROM uesc")).as("the table after a write naming it U&\"...\"")
                    .containsExactly("1");
        }
    }
}
