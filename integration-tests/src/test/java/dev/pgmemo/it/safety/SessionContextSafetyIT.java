package dev.pgmemo.it.safety;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * "Never wrong, never leaked": everything about a session that changes what PostgreSQL would return — who
 * it is, which role it has set, row-level-security inputs, search_path, the database, output settings — keeps
 * identical SQL from being answered with another context's cached result.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SessionContextSafetyIT extends SafetyIt {
    private String alice;
    private String bob;
    private String owner;

    @Override
    protected String databaseName() {
        return "ctx";
    }

    @BeforeAll
    void setUpRoles() throws SQLException {
        alice = db.role("alice");
        bob = db.role("bob");
        owner = db.role("owner");
    }


    private static String n(String base, Mode mode) {
        return base + "_" + mode.name().toLowerCase(Locale.ROOT);
    }

    /**
     * Gives {@code table} to the owner role with row-level security enabled and forced (so the owner is subject
     * to it too), one policy {@code USING (using)}, and SELECT granted to {@code readers}.
     */
    private void protect(String table, String policy, String using, String readers) throws SQLException {
        db.exec("ALTER TABLE " + table + " OWNER TO " + owner,
                "ALTER TABLE " + table + " ENABLE ROW LEVEL SECURITY",
                "ALTER TABLE " + table + " FORCE ROW LEVEL SECURITY",
                "CREATE POLICY " + policy + " ON " + table + " USING (" + using + ")",
                "GRANT SELECT ON " + table + " TO " + readers);
    }

    // ---- privileges and roles ----------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void roleWithoutPrivilegeGetsPermissionErrorNotTheRowsAnotherRoleWarmed(Mode mode) throws SQLException {
        String secret = n("secret", mode);
        db.exec("CREATE TABLE " + secret + " (id int, v text)",
                "INSERT INTO " + secret + " VALUES (1, 's1'), (2, 's2')",
                "GRANT SELECT ON " + secret + " TO " + alice);
        String q = "SELECT id, v FROM " + secret + " ORDER BY id";
        try (Connection a = memo.connect(db.name, alice, mode); Connection b = memo.connect(db.name, bob, mode)) {
            assertThat(memo.warm(a, q)).containsExactly("1|s1", "2|s2");
            for (int i = 0; i < 3; i++) {
                assertThat(Sql.sqlStateOf(b, q)).as("bob reading %s (attempt %d)", secret, i).isEqualTo("42501");
            }
            assertThat(Sql.rows(a, q)).containsExactly("1|s1", "2|s2");
        }
    }

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void setRoleResetRoleAndSetSessionAuthorizationChangeWhatIsServed(Mode mode) throws SQLException {
        String secret = n("role_secret", mode);
        String docs = n("role_docs", mode);
        db.exec("CREATE TABLE " + secret + " (id int, v text)",
                "INSERT INTO " + secret + " VALUES (1, 's1'), (2, 's2')",
                "GRANT SELECT ON " + secret + " TO " + alice,
                "CREATE TABLE " + docs + " (owner_name text, v text)",
                "INSERT INTO " + docs + " VALUES ('" + alice + "', 'alice-1'), ('" + alice + "', 'alice-2'), ('"
                        + bob + "', 'bob-1')");
        protect(docs, "by_user", "owner_name = current_user", alice + ", " + bob);
        String q = "SELECT id, v FROM " + secret + " ORDER BY id";
        String r = "SELECT owner_name, v FROM " + docs + " ORDER BY v";
        List<String> secretRows = List.of("1|s1", "2|s2");
        List<String> aliceDocs = List.of(alice + "|alice-1", alice + "|alice-2");
        List<String> bobDocs = List.of(bob + "|bob-1");
        List<String> allDocs = List.of(alice + "|alice-1", alice + "|alice-2", bob + "|bob-1");
        try (Connection c = memo.connect(db.name, mode)) {
            Sql.exec(c, "SET ROLE " + alice);
            assertThat(memo.warm(c, q)).isEqualTo(secretRows);
            assertThat(memo.warm(c, r)).isEqualTo(aliceDocs);

            Sql.exec(c, "SET ROLE " + bob);
            assertThat(Sql.sqlStateOf(c, q)).as("SET ROLE bob, then the table only alice may read").isEqualTo("42501");
            assertThat(Sql.rows(c, r)).as("SET ROLE bob, then the RLS table").isEqualTo(bobDocs);
            assertThat(memo.warm(c, r)).isEqualTo(bobDocs);

            Sql.exec(c, "SET ROLE " + alice);
            assertThat(Sql.rows(c, r)).as("back to alice").isEqualTo(aliceDocs);

            Sql.exec(c, "RESET ROLE");
            assertThat(Sql.rows(c, r)).as("RESET ROLE: the superuser bypasses RLS").isEqualTo(allDocs);
            assertThat(Sql.rows(c, q)).isEqualTo(secretRows);

            Sql.exec(c, "SET SESSION AUTHORIZATION " + bob);
            assertThat(Sql.sqlStateOf(c, q)).as("SET SESSION AUTHORIZATION bob").isEqualTo("42501");
            assertThat(Sql.rows(c, r)).isEqualTo(bobDocs);

            Sql.exec(c, "SET SESSION AUTHORIZATION " + alice);
            assertThat(Sql.rows(c, q)).as("SET SESSION AUTHORIZATION alice").isEqualTo(secretRows);
            assertThat(Sql.rows(c, r)).isEqualTo(aliceDocs);

            Sql.exec(c, "SET ROLE NONE");
            assertThat(Sql.rows(c, r)).isEqualTo(aliceDocs);

            Sql.exec(c, "RESET SESSION AUTHORIZATION");
            assertThat(Sql.rows(c, r)).as("RESET SESSION AUTHORIZATION").isEqualTo(allDocs);
        }
    }

    // ---- row-level security ------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void rowLevelSecurityOnCurrentUserGivesEachUserOnlyTheirRows(Mode mode) throws SQLException {
        String docs = n("rls_user", mode);
        db.exec("CREATE TABLE " + docs + " (owner_name text, v text)",
                "INSERT INTO " + docs + " VALUES ('" + alice + "', 'alice-1'), ('" + alice + "', 'alice-2'), ('"
                        + bob + "', 'bob-1')");
        protect(docs, "by_user", "owner_name = current_user", alice + ", " + bob);
        String r = "SELECT owner_name, v FROM " + docs + " ORDER BY v";
        try (Connection a = memo.connect(db.name, alice, mode); Connection b = memo.connect(db.name, bob, mode);
                Connection o = memo.connect(db.name, owner, mode)) {
            assertThat(memo.warm(a, r)).containsExactly(alice + "|alice-1", alice + "|alice-2");
            assertThat(Sql.rows(b, r)).as("bob after alice warmed the cache").containsExactly(bob + "|bob-1");
            assertThat(memo.warm(b, r)).containsExactly(bob + "|bob-1");
            assertThat(Sql.rows(o, r)).as("the owner, subject to FORCE ROW LEVEL SECURITY").isEmpty();
            assertThat(Sql.rows(a, r)).containsExactly(alice + "|alice-1", alice + "|alice-2");
        }
    }

    /**
     * pgmemo may decline to cache a table whose policy reads a setting, or cache it per setting value; either
     * way every read must return exactly the current tenant's rows, each one read several times in a row so
     * that a cached result would be served if pgmemo kept one.
     */
    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void rowLevelSecurityOnCustomSettingFollowsSetSetConfigDiscardAndReset(Mode mode) throws SQLException {
        String docs = n("rls_tenant", mode);
        db.exec("CREATE TABLE " + docs + " (tenant text, v text)",
                "INSERT INTO " + docs + " VALUES ('t1', 't1-a'), ('t1', 't1-b'), ('t2', 't2-a')");
        protect(docs, "by_tenant", "tenant = current_setting('app.tenant', true)", alice + ", " + bob);
        String t = "SELECT tenant, v FROM " + docs + " ORDER BY v";
        List<String> t1 = List.of("t1|t1-a", "t1|t1-b");
        List<String> t2 = List.of("t2|t2-a");
        try (Connection a = memo.connect(db.name, alice, mode); Connection b = memo.connect(db.name, bob, mode)) {
            Sql.exec(a, "SET app.tenant = 't1'");
            assertThat(memo.repeat(a, t)).isEqualTo(t1);
            Sql.exec(a, "SET app.tenant = 't2'");
            assertThat(memo.repeat(a, t)).as("after SET app.tenant = 't2'").isEqualTo(t2);
            assertThat(memo.repeat(a, t)).isEqualTo(t2);

            Sql.exec(b, "SET app.tenant = 't1'");
            assertThat(Sql.rows(b, t)).as("another user in tenant t1").isEqualTo(t1);

            Sql.rows(a, "SELECT set_config('app.tenant', 't1', false)");
            assertThat(Sql.rows(a, t)).as("after set_config('app.tenant', 't1', false)").isEqualTo(t1);

            Sql.rows(a, "SELECT set_config('app.tenant', 't2', false) AS s, 1 AS one");
            assertThat(Sql.rows(a, t)).as("after a query that called set_config(..., 't2', false)").isEqualTo(t2);

            Sql.exec(a, "DISCARD ALL");
            assertThat(Sql.rows(a, t)).as("after DISCARD ALL").isEmpty();

            Sql.exec(a, "SET app.tenant = 't2'");
            assertThat(Sql.rows(a, t)).isEqualTo(t2);
            Sql.exec(a, "RESET ALL");
            assertThat(Sql.rows(a, t)).as("after RESET ALL").isEmpty();

            Sql.exec(a, "SET app.tenant = 't1'");
            assertThat(Sql.rows(a, t)).isEqualTo(t1);
            Sql.exec(a, "RESET app.tenant");
            assertThat(Sql.rows(a, t)).as("after RESET app.tenant").isEmpty();

            Sql.exec(a, "SET app.tenant = 't1'");
            a.setAutoCommit(false);
            Sql.exec(a, "SET LOCAL app.tenant = 't2'");
            assertThat(Sql.rows(a, t)).as("SET LOCAL in a transaction").isEqualTo(t2);
            a.commit();
            a.setAutoCommit(true);
            assertThat(Sql.rows(a, t)).as("after the transaction that ran SET LOCAL").isEqualTo(t1);

            assertThat(Sql.rows(b, t)).isEqualTo(t1);
        }
    }

    /**
     * A policy reading {@code current_setting('app.tenant')} is cached per tenant: the setting is part of the
     * key. Proved by changing rows directly in PostgreSQL (bypassing pgmemo): each tenant keeps being served
     * its own warmed rows, and a session of the same user in the same tenant shares them.
     */
    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "EXTENDED", "PREPARED"})
    void rowLevelSecurityOnCustomSettingIsCachedPerTenant(Mode mode) throws SQLException {
        String docs = n("rls_keyed", mode);
        db.exec("CREATE TABLE " + docs + " (tenant text, v text)",
                "INSERT INTO " + docs + " VALUES ('t1', 't1-a'), ('t2', 't2-a')");
        protect(docs, "by_tenant", "tenant = current_setting('App.Tenant')", alice);
        String t = "SELECT tenant, v FROM " + docs + " ORDER BY v";
        try (Connection a = memo.connect(db.name, alice, mode); Connection a2 = memo.connect(db.name, alice, mode);
                Connection none = memo.connect(db.name, alice, mode)) {
            Sql.exec(a, "SET app.tenant = 't1'");
            assertThat(memo.warm(a, t)).containsExactly("t1|t1-a");
            Sql.exec(a, "SET app.tenant = 't2'");
            assertThat(Sql.rows(a, t)).as("tenant t2 after t1 was cached").containsExactly("t2|t2-a");
            assertThat(memo.warm(a, t)).containsExactly("t2|t2-a");

            try (Connection direct = Sql.direct(db.name)) {
                Sql.exec(direct, "UPDATE " + docs + " SET v = v || '-changed'");
            }
            Sql.exec(a, "SET app.tenant = 't1'");
            long hits = memo.hits();
            assertThat(Sql.rows(a, t)).as("t1's cached rows").containsExactly("t1|t1-a");
            Sql.exec(a2, "SET app.tenant = 't1'");
            assertThat(Sql.rows(a2, t)).as("another session of alice in t1").containsExactly("t1|t1-a");
            assertThat(memo.hits()).as("both reads came from the cache").isEqualTo(hits + 2);
            Sql.exec(a2, "SET app.tenant = 't2'");
            assertThat(Sql.rows(a2, t)).as("t2's cached rows").containsExactly("t2|t2-a");

            assertThat(Sql.sqlStateOf(none, t)).as("no tenant set: the policy's error, not cached rows")
                    .isEqualTo("42704");
            Sql.exec(none, "SET app.tenant = ''");
            assertThat(Sql.rows(none, t)).as("empty tenant").isEmpty();
        }
    }

    /**
     * A policy whose subquery reads another table: a write through pgmemo to that table changes what the
     * policy lets through, so cached reads of the protected table must not survive it. A view reading a
     * custom setting is keyed by it as well.
     */
    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void policySubqueryTablesAndSettingViewsGuardCachedReads(Mode mode) throws SQLException {
        String docs = n("rls_members_docs", mode);
        String members = n("rls_members", mode);
        String view = n("tenant_view", mode);
        db.exec("CREATE TABLE " + members + " (username text, tenant text)",
                "INSERT INTO " + members + " VALUES ('" + alice + "', 't1')",
                "CREATE TABLE " + docs + " (tenant text, v text)",
                "INSERT INTO " + docs + " VALUES ('t1', 't1-a'), ('t2', 't2-a')",
                "ALTER TABLE " + docs + " OWNER TO " + owner,
                "ALTER TABLE " + members + " OWNER TO " + owner,
                "ALTER TABLE " + docs + " ENABLE ROW LEVEL SECURITY",
                "CREATE POLICY by_membership ON " + docs + " USING (tenant IN (SELECT m.tenant FROM " + members
                        + " m WHERE m.username = current_user))",
                "GRANT SELECT ON " + docs + " TO " + alice,
                "GRANT SELECT, INSERT ON " + members + " TO " + alice,
                "CREATE VIEW " + view + " AS SELECT v FROM " + members + " JOIN (VALUES ('t1', 'one'), ('t2', 'two'))"
                        + " AS x(t, v) ON x.t = " + members + ".tenant WHERE tenant = current_setting('app.view_tenant', true)",
                "GRANT SELECT ON " + view + " TO " + alice);
        String t = "SELECT tenant, v FROM " + docs + " ORDER BY v";
        try (Connection a = memo.connect(db.name, alice, mode); Connection w = memo.connect(db.name, alice, mode)) {
            assertThat(memo.warm(a, t)).containsExactly("t1|t1-a");
            Sql.exec(w, "INSERT INTO " + members + " VALUES ('" + alice + "', 't2')");
            assertThat(Sql.rows(a, t)).as("after alice joined t2 through pgmemo").containsExactly("t1|t1-a", "t2|t2-a");

            String v = "SELECT DISTINCT v FROM " + view + " ORDER BY v";
            Sql.exec(a, "SET app.view_tenant = 't1'");
            assertThat(memo.warm(a, v)).containsExactly("one");
            Sql.exec(a, "SET app.view_tenant = 't2'");
            assertThat(Sql.rows(a, v)).as("the view under another setting value").containsExactly("two");
            assertThat(memo.warm(a, v)).containsExactly("two");
            Sql.exec(a, "RESET app.view_tenant");
            assertThat(Sql.rows(a, v)).as("the view with the setting reset").isEmpty();
        }
    }

    /** The same setting given in the startup packet ({@code options=-c app.tenant=...}) instead of SET. */
    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void rowLevelSecurityOnASettingFromTheStartupPacket(Mode mode) throws SQLException {
        String docs = n("rls_startup", mode);
        db.exec("CREATE TABLE " + docs + " (tenant text, v text)",
                "INSERT INTO " + docs + " VALUES ('t1', 't1-a'), ('t2', 't2-a')");
        protect(docs, "by_tenant", "tenant = current_setting('app.tenant', true)", alice);
        String t = "SELECT tenant, v FROM " + docs + " ORDER BY v";
        java.util.Properties one = new java.util.Properties();
        one.setProperty("options", "-c app.tenant=t1");
        java.util.Properties two = new java.util.Properties();
        two.setProperty("options", "-c app.tenant=t2");
        try (Connection a1 = Sql.connect(memo.port(), db.name, alice, mode, one);
                Connection a2 = Sql.connect(memo.port(), db.name, alice, mode, two)) {
            assertThat(memo.repeat(a1, t)).containsExactly("t1|t1-a");
            assertThat(Sql.rows(a2, t)).as("same user, tenant t2 from the startup packet").containsExactly("t2|t2-a");
            assertThat(memo.repeat(a2, t)).containsExactly("t2|t2-a");
            assertThat(Sql.rows(a1, t)).containsExactly("t1|t1-a");
        }
    }

    // ---- search_path -------------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void unqualifiedNamesFollowSearchPathAndWritesInvalidateTheResolvedTable(Mode mode) throws SQLException {
        String sa = n("sa", mode);
        String sb = n("sb", mode);
        db.exec("CREATE SCHEMA " + sa, "CREATE SCHEMA " + sb,
                "CREATE TABLE " + sa + ".st (v text)", "CREATE TABLE " + sb + ".st (v text)",
                "INSERT INTO " + sa + ".st VALUES ('a-row')", "INSERT INTO " + sb + ".st VALUES ('b-row')");
        String s = "SELECT v FROM st ORDER BY v";
        try (Connection c = memo.connect(db.name, mode); Connection w = memo.connect(db.name, mode);
                Connection other = memo.connect(db.name, mode)) {
            Sql.exec(c, "SET search_path TO " + sa);
            assertThat(memo.warm(c, s)).containsExactly("a-row");
            Sql.exec(c, "SET search_path TO " + sb);
            assertThat(Sql.rows(c, s)).as("search_path " + sb).containsExactly("b-row");
            assertThat(memo.warm(c, s)).containsExactly("b-row");
            Sql.exec(c, "SET search_path TO " + sa);
            assertThat(Sql.rows(c, s)).containsExactly("a-row");
            Sql.exec(other, "SET search_path TO " + sb + ", " + sa);
            assertThat(memo.warm(other, s)).containsExactly("b-row");

            Sql.exec(w, "INSERT INTO " + sa + ".st VALUES ('a-new')");
            assertThat(Sql.rows(c, s)).as("after a write through pgmemo to " + sa + ".st").containsExactly("a-new", "a-row");
            Sql.exec(c, "SET search_path TO " + sb);
            assertThat(Sql.rows(c, s)).containsExactly("b-row");
            assertThat(Sql.rows(other, s)).containsExactly("b-row");

            Sql.exec(w, "SET search_path TO " + sb);
            Sql.exec(w, "INSERT INTO st VALUES ('b-new')");
            assertThat(Sql.rows(c, s)).as("after an unqualified write resolved to " + sb + ".st")
                    .containsExactly("b-new", "b-row");
            assertThat(Sql.rows(other, s)).containsExactly("b-new", "b-row");
            Sql.exec(c, "SET search_path TO " + sa);
            assertThat(Sql.rows(c, s)).containsExactly("a-new", "a-row");
        }
    }

    /**
     * The default search_path is {@code "$user", public}: the same text resolves {@code uv} to a different
     * relation for each user. Here alice's {@code uv} is a view over her own table and bob's is a plain table
     * in public; a write through pgmemo to the base of alice's view must reach alice's cached reads of it.
     */
    @Test
    void dollarUserInSearchPathResolvesPerUserForInvalidation() throws SQLException {
        db.exec("CREATE SCHEMA " + alice + " AUTHORIZATION " + alice,
                "CREATE TABLE " + alice + ".ubase (v text)",
                "INSERT INTO " + alice + ".ubase VALUES ('alice-row')",
                "CREATE VIEW " + alice + ".uv AS SELECT v FROM " + alice + ".ubase",
                "ALTER TABLE " + alice + ".ubase OWNER TO " + alice,
                "ALTER VIEW " + alice + ".uv OWNER TO " + alice,
                "CREATE TABLE public.uv (v text)",
                "INSERT INTO public.uv VALUES ('public-row')",
                "GRANT SELECT ON public.uv TO " + bob);
        String s = "SELECT v FROM uv ORDER BY v";
        try (Connection a = memo.connect(db.name, alice, Mode.SIMPLE); Connection b = memo.connect(db.name, bob, Mode.SIMPLE)) {
            // Both sessions have read their context already (a first cacheable query each) ...
            assertThat(memo.warm(a, "SELECT v FROM " + alice + ".ubase ORDER BY v")).containsExactly("alice-row");
            assertThat(memo.warm(b, "SELECT v FROM public.uv ORDER BY v")).containsExactly("public-row");
            // ... then bob resolves the unqualified name first, and alice second.
            assertThat(memo.warm(b, s)).containsExactly("public-row");
            assertThat(memo.warm(a, s)).containsExactly("alice-row");
            Sql.exec(a, "INSERT INTO " + alice + ".ubase VALUES ('alice-new')");
            assertThat(Sql.rows(a, s)).as("alice reads her view after writing its base table through pgmemo")
                    .containsExactly("alice-new", "alice-row");
            assertThat(Sql.rows(b, s)).containsExactly("public-row");
        }
    }

    // ---- databases ---------------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"SIMPLE", "PREPARED"})
    void twoDatabasesWithTheSameTableNeverShareEntries(Mode mode) throws SQLException {
        String other = db.createDatabase("ctx2_" + mode.name().toLowerCase(Locale.ROOT));
        db.exec("CREATE TABLE dbt (v text)", "INSERT INTO dbt VALUES ('first-db')");
        try (Connection c = Sql.direct(other)) {
            Sql.exec(c, "CREATE TABLE dbt (v text)", "INSERT INTO dbt VALUES ('second-db')");
        }
        String s = "SELECT v FROM dbt ORDER BY v";
        try (Connection one = memo.connect(db.name, mode); Connection two = memo.connect(other, mode)) {
            assertThat(memo.warm(one, s)).containsExactly("first-db");
            assertThat(Sql.rows(two, s)).as("same SQL in the second database").containsExactly("second-db");
            assertThat(memo.warm(two, s)).containsExactly("second-db");
            assertThat(Sql.rows(one, s)).containsExactly("first-db");
            Sql.exec(two, "INSERT INTO dbt VALUES ('second-new')");
            assertThat(Sql.rows(two, s)).containsExactly("second-db", "second-new");
            assertThat(Sql.rows(one, s)).containsExactly("first-db");
        } finally {
            db.exec("DROP TABLE dbt");
        }
    }

    // ---- output settings ---------------------------------------------------------------------------------

    static Stream<Arguments> outputSettings() {
        Stream<Arguments> settings = Stream.of(
                Arguments.of("TimeZone", "UTC", "Asia/Kolkata"),
                Arguments.of("DateStyle", "ISO, MDY", "SQL, DMY"),
                Arguments.of("IntervalStyle", "postgres", "iso_8601"),
                Arguments.of("extra_float_digits", "0", "3"),
                Arguments.of("bytea_output", "hex", "escape"),
                Arguments.of("lc_monetary", "C", "de_DE.UTF-8"));
        return settings.flatMap(a -> Stream.of(Mode.SIMPLE, Mode.EXTENDED)
                .map(m -> Arguments.of(a.get()[0], a.get()[1], a.get()[2], m)));
    }

    @ParameterizedTest(name = "{0}: {1} / {2} ({3})")
    @MethodSource("outputSettings")
    void cachedResultIsByteForByteWhatPostgresReturnsUnderTheSameSettings(String setting, String v1, String v2,
            Mode mode) throws Exception {
        String table = "outv_" + setting.toLowerCase(Locale.ROOT) + "_" + mode.name().toLowerCase(Locale.ROOT);
        db.exec("CREATE TABLE " + table + " (id int, ts timestamptz, d date, iv interval, f float8, b bytea, m money)",
                "INSERT INTO " + table + " VALUES (1, '2024-03-05 13:14:15.5+00', '2024-03-05', '1 day 02:03:04.5',"
                        + " 0.1::float8 + 0.2::float8, '\\x00ff41'::bytea, 1234.5)");
        String q = "SELECT id, ts, d, iv, f, b, m FROM " + table + " ORDER BY id";
        try (Wire viaMemo = Wire.connect(memo.port(), Sql.SUPERUSER, db.name);
                Wire direct = Wire.connect(Sql.PG_PORT, Sql.SUPERUSER, db.name)) {
            String set1 = "SET " + setting + " = '" + v1 + "'";
            String set2 = "SET " + setting + " = '" + v2 + "'";
            List<Wire.Msg> probe = direct.simple(set2);
            assumeThat(probe.stream().noneMatch(m -> m.type() == 'E'))
                    .as("this machine's PostgreSQL accepts " + set2).isTrue();

            assertNoError(viaMemo.simple(set1));
            assertNoError(direct.simple(set1));
            List<String> direct1 = Wire.images(run(direct, q, mode));
            List<String> cached1 = warmWire(viaMemo, q, mode);
            assertThat(cached1).as("%s = %s, from the cache", setting, v1).isEqualTo(direct1);

            assertNoError(viaMemo.simple(set2));
            assertNoError(direct.simple(set2));
            List<String> direct2 = Wire.images(run(direct, q, mode));
            assertThat(direct2).as("%s changes PostgreSQL's output (else this test proves nothing)", setting)
                    .isNotEqualTo(direct1);
            assertThat(Wire.images(run(viaMemo, q, mode))).as("%s = %s, first read after SET", setting, v2)
                    .isEqualTo(direct2);
            assertThat(warmWire(viaMemo, q, mode)).as("%s = %s, from the cache", setting, v2).isEqualTo(direct2);

            assertNoError(viaMemo.simple(set1));
            assertThat(Wire.images(run(viaMemo, q, mode))).as("%s back to %s", setting, v1).isEqualTo(direct1);
        }
    }

    private static List<Wire.Msg> run(Wire w, String q, Mode mode) throws Exception {
        return mode == Mode.SIMPLE ? w.simple(q) : w.extendedQuery(q);
    }

    private List<String> warmWire(Wire w, String q, Mode mode) throws Exception {
        for (int attempt = 0; attempt < 4; attempt++) {
            memo.awaitStoreAvailable();
            Memo.Counters before = memo.counters();
            List<Wire.Msg> msgs = run(w, q, mode);
            assertNoError(msgs);
            if (memo.hits() > before.hits()) {
                return Wire.images(msgs);
            }
            memo.waitForStores(before.stores());
        }
        throw new AssertionError("pgmemo never served " + q + " from the cache (precondition of this test)");
    }

    private static void assertNoError(List<Wire.Msg> msgs) {
        assertThat(msgs).as("replies").noneMatch(m -> m.type() == 'E');
    }
}
