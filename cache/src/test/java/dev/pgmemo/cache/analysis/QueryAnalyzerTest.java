package dev.pgmemo.cache.analysis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pgmemo.cache.analysis.Analysis.BypassReason;
import dev.pgmemo.cache.analysis.Analysis.Kind;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class QueryAnalyzerTest {

    private final QueryAnalyzer analyzer = new QueryAnalyzer(1000);

    private Analysis analyze(String sql) {
        return analyzer.analyze(sql);
    }

    private static TableName t(String name) {
        return TableName.of(name);
    }

    private static TableName t(String schema, String name) {
        return TableName.of(schema, name);
    }

    private Analysis assertCacheable(String sql) {
        Analysis a = analyze(sql);
        assertThat(a.kind()).as(sql).isEqualTo(Kind.SELECT);
        assertThat(a.reason()).as(sql).isEqualTo(BypassReason.NONE);
        assertThat(a.cacheable()).as(sql).isTrue();
        assertThat(a.writes()).as(sql).isEmpty();
        assertThat(a.writesUnknown()).as(sql).isFalse();
        return a;
    }

    private Analysis assertBypass(String sql, BypassReason reason) {
        Analysis a = analyze(sql);
        assertThat(a.reason()).as(sql).isEqualTo(reason);
        assertThat(a.cacheable()).as(sql).isFalse();
        return a;
    }

    @Nested
    class Reads {

        @Test
        void findsTablesOfJoinsOfEveryKind() {
            assertThat(assertCacheable("SELECT * FROM a JOIN b ON a.id = b.aid LEFT JOIN c USING (id) "
                    + "RIGHT OUTER JOIN d ON true FULL JOIN e ON true CROSS JOIN f NATURAL JOIN g, h").reads())
                    .containsExactlyInAnyOrder(t("a"), t("b"), t("c"), t("d"), t("e"), t("f"), t("g"), t("h"));
            assertThat(assertCacheable("SELECT * FROM (a JOIN b ON a.id = b.id) JOIN c ON true").reads())
                    .containsExactlyInAnyOrder(t("a"), t("b"), t("c"));
        }

        @Test
        void findsTablesInSubqueriesAnywhere() {
            assertThat(assertCacheable("SELECT (SELECT max(x) FROM s1), a.* FROM a "
                    + "WHERE a.id IN (SELECT id FROM s2) AND EXISTS (SELECT 1 FROM s3 WHERE s3.a = a.id) "
                    + "AND a.v > ANY (SELECT v FROM s4) AND a.w = ALL (SELECT w FROM s5) "
                    + "GROUP BY a.id HAVING count(*) > (SELECT count(*) FROM s6) "
                    + "ORDER BY (SELECT 1 FROM s7 LIMIT 1)").reads())
                    .containsExactlyInAnyOrder(t("a"), t("s1"), t("s2"), t("s3"), t("s4"), t("s5"), t("s6"), t("s7"));
        }

        @Test
        void findsTablesInClausesThatTablesNamesFinderSkips() {
            assertThat(assertCacheable("SELECT count(*) OVER (PARTITION BY (SELECT max(y) FROM w1)), "
                    + "array_agg(x ORDER BY (SELECT 1 FROM w2)), sum(x) FILTER (WHERE y IN (SELECT id FROM w3)) "
                    + "FROM t GROUP BY (SELECT 1 FROM w4)").reads())
                    .containsExactlyInAnyOrder(t("t"), t("w1"), t("w2"), t("w3"), t("w4"));
            assertThat(assertCacheable("SELECT CASE WHEN x THEN (SELECT 1 FROM c1) ELSE (SELECT 2 FROM c2) END, "
                    + "ARRAY(SELECT v FROM c3) FROM t").reads())
                    .containsExactlyInAnyOrder(t("t"), t("c1"), t("c2"), t("c3"));
        }

        @Test
        void findsTablesOfSetOperationsAndValuesAndTable() {
            assertThat(assertCacheable("SELECT a FROM t1 UNION SELECT a FROM t2 INTERSECT SELECT a FROM t3 "
                    + "EXCEPT ALL SELECT a FROM t4").reads())
                    .containsExactlyInAnyOrder(t("t1"), t("t2"), t("t3"), t("t4"));
            assertThat(assertCacheable("(SELECT 1 FROM p1) UNION ALL (SELECT 2 FROM p2)").reads())
                    .containsExactlyInAnyOrder(t("p1"), t("p2"));
            assertThat(assertCacheable("TABLE config").reads()).containsExactly(t("config"));
            assertThat(assertCacheable("VALUES (1, 'a'), (2, 'b')").reads()).isEmpty();
            assertThat(assertCacheable("SELECT * FROM (VALUES (1), (2)) AS v(a) JOIN t ON t.a = v.a").reads())
                    .containsExactly(t("t"));
        }

        @Test
        void findsTablesOfLateralSubqueries() {
            assertThat(assertCacheable("SELECT * FROM a, LATERAL (SELECT * FROM b WHERE b.aid = a.id) x "
                    + "JOIN LATERAL (SELECT * FROM c WHERE c.bid = x.id) y ON true").reads())
                    .containsExactlyInAnyOrder(t("a"), t("b"), t("c"));
        }

        @Test
        void cteNamesAreNotTablesButTheirBodiesAreRead() {
            Analysis a = assertCacheable("WITH recent AS (SELECT * FROM orders WHERE ts > $1), "
                    + "big AS (SELECT * FROM recent WHERE total > 100) "
                    + "SELECT * FROM big JOIN customers c ON c.id = big.cid");
            assertThat(a.reads()).containsExactlyInAnyOrder(t("orders"), t("customers"));
        }

        @Test
        void scopesCteNamesLikePostgres() {
            // without RECURSIVE, a CTE body does not see its own name: the inner t is the table
            assertThat(assertCacheable("WITH t AS (SELECT * FROM t WHERE a > 1) SELECT * FROM t").reads())
                    .containsExactly(t("t"));
            // with RECURSIVE it does
            assertThat(assertCacheable("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 9) "
                    + "SELECT * FROM r").reads()).isEmpty();
            // a CTE inside a subquery shadows only inside it
            assertThat(assertCacheable("SELECT * FROM (WITH t AS (SELECT 1 FROM base) SELECT * FROM t) x, t").reads())
                    .containsExactlyInAnyOrder(t("base"), t("t"));
            // a qualified name is never a CTE
            assertThat(assertCacheable("WITH users AS (SELECT 1) SELECT * FROM users, public.users").reads())
                    .containsExactly(t("public", "users"));
            // an outer CTE is visible in nested subqueries
            assertThat(assertCacheable("WITH w AS (SELECT 1 FROM z) SELECT * FROM t WHERE EXISTS (SELECT 1 FROM w)").reads())
                    .containsExactlyInAnyOrder(t("z"), t("t"));
        }

        @Test
        void foldsNamesLikePostgres() {
            assertThat(assertCacheable("SELECT * FROM Public.Users u JOIN \"Sales\".\"Orders\" o ON o.uid = u.id "
                    + "JOIN \"lower\" l ON true JOIN mydb.s.t3 ON true").reads())
                    .containsExactlyInAnyOrder(t("public", "users"), t("Sales", "Orders"), t("lower"), t("s", "t3"));
            assertThat(assertCacheable("WITH \"Cte\" AS (SELECT 1) SELECT * FROM \"Cte\", cte").reads())
                    .containsExactly(t("cte"));
        }

        @Test
        void aliasesAndColumnQualifiersAreNotTables() {
            assertThat(assertCacheable("SELECT u.*, x.name, users.id FROM users u, users "
                    + "JOIN accounts AS x ON x.uid = users.id ORDER BY u.id").reads())
                    .containsExactlyInAnyOrder(t("users"), t("accounts"));
        }
    }

    @Nested
    class Cacheability {

        @ParameterizedTest
        @ValueSource(strings = {
            "SELECT 1+1",
            "SELECT $1::int",
            "SELECT '2024-01-01'::timestamptz",
            "SELECT * FROM users WHERE id = $1",
            "SELECT lower(name), coalesce(a, b), count(*), sum(x), date_trunc('day', ts), abs(-1), md5(s) FROM t GROUP BY 1, 2, 5, 7",
            "SELECT trim(both 'x' from y), substring(y from 1 for 2), extract(year from ts) FROM t",
            "SELECT row_number() OVER (ORDER BY id), lag(x) OVER w FROM t WINDOW w AS (ORDER BY id)",
            "SELECT * FROM t WHERE id = ANY($1) AND tags && ARRAY['a'] LIMIT 10 OFFSET 5",
            "SELECT 1 AS user, t.user, t.current_date FROM t",
            "SELECT pg_catalog.lower(x) FROM t",
            "SELECT \"current_user\" FROM t",
        })
        void cachesDeterministicReads(String sql) {
            assertCacheable(sql);
        }

        @ParameterizedTest
        @ValueSource(strings = {
            "SELECT now()",
            "SELECT NOW() FROM t",
            "SELECT pg_catalog.now()",
            "SELECT * FROM t WHERE ts > now() - interval '1 hour'",
            "SELECT CURRENT_TIMESTAMP",
            "SELECT current_timestamp(3)",
            "SELECT current_date, localtimestamp",
            "SELECT current_user",
            "SELECT * FROM docs WHERE owner = CURRENT_USER",
            "SELECT user",
            "SELECT session_user, current_role, current_schema, current_catalog",
            "SELECT id FROM t ORDER BY random() LIMIT 1",
            "SELECT count(*) FILTER (WHERE random() > 0.5) FROM t",
            "SELECT nextval('s')",
            "SELECT gen_random_uuid()",
            "SELECT uuid_generate_v4()",
            "SELECT current_setting('app.tenant')",
            "SELECT to_char(ts, 'YYYY') FROM t",
            "SELECT concat(a, b) FROM t",
            "SELECT pg_advisory_lock(1)",
            "SELECT * FROM t TABLESAMPLE SYSTEM (10)",
        })
        void neverCachesStableOrVolatileFunctions(String sql) {
            Analysis a = assertBypass(sql, BypassReason.VOLATILE_FUNCTION);
            assertThat(a.kind()).isEqualTo(Kind.SELECT);
            assertThat(a.writesUnknown()).as(sql).isFalse();
        }

        @ParameterizedTest
        @ValueSource(strings = {
            "SELECT * FROM events WHERE ts > 'now'::timestamptz - interval '1 day'",
            "SELECT * FROM events WHERE day = DATE 'today'",
            "SELECT 'Tomorrow'::date",
            "SELECT * FROM t WHERE d < ' yesterday '::date",
            "SELECT * FROM t WHERE ts < 'today 12:00'::timestamp",
            "SELECT * FROM t WHERE ts < E'NOW'::timestamptz",
        })
        void neverCachesDatetimeLiteralsThatReadTheClock(String sql) {
            assertBypass(sql, BypassReason.VOLATILE_FUNCTION);
        }

        @Test
        void clockLiteralsAreCheckedOnEveryCallNotMemoized() {
            // same fingerprint, so the same memoized verdict: the literal must be checked each time
            String fixed = "SELECT * FROM events WHERE ts > '2024-01-01'::timestamptz";
            String moving = "SELECT * FROM events WHERE ts > 'now'::timestamptz";
            assertThat(Fingerprint.of(fixed)).isEqualTo(Fingerprint.of(moving));
            assertCacheable(fixed);
            assertBypass(moving, BypassReason.VOLATILE_FUNCTION);
            assertCacheable(fixed);
            assertThat(analyzer.parserRuns()).isEqualTo(1);
            // words that merely contain those letters are fine
            assertCacheable("SELECT * FROM films WHERE title IN ('Snowpiercer', 'knowledge', 'Todays')");
        }

        @ParameterizedTest
        @ValueSource(strings = {
            "SELECT E'\\x6eow'::timestamptz",
            "SELECT E'\\156ow'::date",
            "SELECT E'\\u006eow'::timestamptz",
            "SELECT E'\\U0000006Eow'::timestamptz",
            "SELECT E'n\\ow'::timestamptz",
            "SELECT U&'\\006Eow'::timestamptz",
            "SELECT U&'\\+00006Eow'::timestamptz",
            "SELECT $$now$$::timestamptz",
            "SELECT $d$ToDay$d$::date",
            "SELECT 'no'\n'w'::timestamptz",
            "SELECT * FROM events WHERE ts > E'\\x6eow'",
            "SELECT * FROM events WHERE ts > $$now$$",
            "SELECT * FROM events WHERE ts > U&'\\0074oday'",
        })
        void neverCachesEscapedOrQuotedClockLiterals(String sql) {
            assertBypass(sql, BypassReason.VOLATILE_FUNCTION);
        }

        @Test
        void clockLiteralsAreFoundAtAnyLength() {
            String padding = " ".repeat(200);
            assertBypass("SELECT '" + padding + "now" + padding + "'::timestamptz", BypassReason.VOLATILE_FUNCTION);
            assertBypass("SELECT * FROM t WHERE ts > '" + padding + "today 10:00'", BypassReason.VOLATILE_FUNCTION);
            assertBypass("SELECT E'" + padding + "\\x6eow'::timestamptz", BypassReason.VOLATILE_FUNCTION);
        }

        @Test
        void escapedClockLiteralsAreCheckedOnEveryCallNotMemoized() {
            String fixed = "SELECT * FROM events WHERE ts > '2024-01-01'::timestamptz";
            String escaped = "SELECT * FROM events WHERE ts > E'\\x6eow'::timestamptz";
            String unicode = "SELECT * FROM events WHERE ts > U&'\\006Eow'::timestamptz";
            assertThat(Fingerprint.of(fixed)).isEqualTo(Fingerprint.of(escaped)).isEqualTo(Fingerprint.of(unicode));
            assertCacheable(fixed);
            assertBypass(escaped, BypassReason.VOLATILE_FUNCTION);
            assertBypass(unicode, BypassReason.VOLATILE_FUNCTION);
            assertCacheable("SELECT * FROM events WHERE ts > E'\\x32024-01-01'::timestamptz");
            assertThat(analyzer.parserRuns()).isEqualTo(1);
        }

        @ParameterizedTest
        @ValueSource(strings = {
            "SELECT reverse('won')::timestamptz",
            "SELECT CAST(reverse('won') AS timestamptz)",
            "SELECT CAST(lower('NOW') AS timestamp with time zone)",
            "SELECT (s || '')::date FROM t",
            "SELECT s::timestamp FROM t",
            "SELECT s::pg_catalog.timestamptz FROM t",
            "SELECT s::\"timestamp\" FROM t",
            "SELECT s::timestamp(3) without time zone FROM t",
            "SELECT s::time FROM t",
            "SELECT string_to_array(s, ',')::date[] FROM t",
            "SELECT s::tstzrange FROM t",
            "SELECT s::my_domain FROM t",
            "SELECT s::app.my_type FROM t",
            "SELECT 'x'::text::date",
            "SELECT date(reverse('won'))",
            "SELECT timestamptz(s) FROM t",
            "SELECT pg_catalog.timestamptz(s) FROM t",
            "SELECT \"timestamp\"(s) FROM t",
            "SELECT * FROM t WHERE created > CAST(s AS date)",
        })
        void neverCachesRunTimeConversionsToDateTimeTypes(String sql) {
            assertBypass(sql, BypassReason.VOLATILE_FUNCTION);
        }

        @ParameterizedTest
        @ValueSource(strings = {
            "SELECT '10:00'::timetz",
            "SELECT '10:00+02'::time with time zone",
            "SELECT timetz '10:00'",
            "SELECT CAST('10:00' AS time(3) with time zone)",
            "SELECT '10:00'::time::timetz",
            "SELECT $1::timetz",
        })
        void neverCachesConversionsToTimeWithTimeZone(String sql) {
            // time with time zone input without a date takes the DST offset of the current date
            assertBypass(sql, BypassReason.VOLATILE_FUNCTION);
        }

        @Test
        void findsEverySpellingOfTimeWithTimeZone() {
            for (String sql : List.of("SELECT pg_catalog.timetz '10:00'", "SELECT \"timetz\" '10:00'",
                    "SELECT x::pg_catalog.\"timetz\" FROM t", "SELECT CAST(x AS TIME WITH TIME ZONE) FROM t")) {
                assertThat(LexicalFacts.of(SqlLexer.tokenize(sql)).clockConversion).as(sql).isTrue();
            }
            for (String sql : List.of("SELECT ts AT TIME ZONE 'UTC' FROM t", "SELECT timetz FROM t",
                    "SELECT '10:00'::time AS timetz", "SELECT time '10:00', time(3) '10:00'")) {
                assertThat(LexicalFacts.of(SqlLexer.tokenize(sql)).clockConversion).as(sql).isFalse();
            }
        }

        @ParameterizedTest
        @ValueSource(strings = {
            "SELECT '2024-01-01'::timestamptz",
            "SELECT CAST('2024-01-01' AS date), CAST($1 AS timestamp with time zone)",
            "SELECT * FROM t WHERE ts > $1::timestamptz",
            "SELECT timestamp '2024-01-01 10:00', DATE '2024-01-01', time '10:00'",
            "SELECT s::text, n::int, n::numeric(10, 2), j::jsonb, d::interval, x::double precision FROM t",
            "SELECT CAST(n AS bigint), CAST(s AS varchar(20)), s::pg_catalog.text FROM t",
            "SELECT 'epoch'::timestamptz, 'infinity'::date, '-infinity'::timestamp",
            "SELECT * FROM t WHERE ts > '2024-01-01' AND title = 'snow'",
            "SELECT '2024-01-01'::timestamp(3), '{2024-01-01}'::date[]",
            "SELECT 1 AS date, t.date, t.timestamptz FROM t",
        })
        void cachesConversionsOfConstantDateTimeInput(String sql) {
            assertCacheable(sql);
        }

        @ParameterizedTest
        @ValueSource(strings = {
            "SELECT 1 ### 2",
            "SELECT * FROM t WHERE a <=> b",
            "SELECT * FROM t ORDER BY embedding <#> $1 LIMIT 5",
            "SELECT * FROM t WHERE a !== b",
        })
        void neverCachesUserDefinedOperators(String sql) {
            // the function behind an operator PostgreSQL does not define is unknown: it may be volatile and write
            Analysis a = assertBypass(sql, BypassReason.VOLATILE_FUNCTION);
            assertThat(a.writesUnknown()).as(sql).isTrue();
        }

        @ParameterizedTest
        @ValueSource(strings = {
            "SELECT * FROM t WHERE a OPERATOR(public.===) b",
            "SELECT * FROM t WHERE a OPERATOR(pg_catalog.###) b",
            "SELECT * FROM t WHERE a OPERATOR(\"###\") b",
            "SELECT * FROM t WHERE a OPERATOR(===) b",
        })
        void neverCachesOperatorSyntaxNamingAnUnknownOperator(String sql) {
            Analysis a = analyze(sql);
            assertThat(a.cacheable()).as(sql).isFalse();
            assertThat(a.writesUnknown()).as(sql).isTrue();
        }

        @ParameterizedTest
        @ValueSource(strings = {
            "SELECT a # 1, a ## b, p <-> q, a ?| b, j @? c, j #- c, n ^@ 'x' FROM t",
            "SELECT a <<| b, a |>> b, a &<| b, a |&> b, a -|- b, a ~>=~ b, a @-@ b FROM t",
            "SELECT |/ a, @ a, ||/ a FROM t",
            "SELECT * FROM t WHERE a !~~* 'x' AND b !~ 'y' AND c @@ d AND e <@ f AND g != h",
        })
        void builtinOperatorsStayCacheable(String sql) {
            assertCacheable(sql);
        }

        @Test
        void namedArgumentMarkersAreNotOperators() {
            // JSqlParser rejects ":=" and does not vet "=>", but they are no operators to look up
            Analysis a = assertBypass("SELECT make_interval(hours := 2) FROM t", BypassReason.PARSE_ERROR);
            assertThat(a.writesUnknown()).isFalse();
            assertThat(LexicalFacts.of(SqlLexer.tokenize("SELECT make_interval(days => 1, hours := 2)")).unknownOperator)
                    .isFalse();
        }

        @Test
        void userDefinedOperatorsInDmlAreUnknownWrites() {
            assertThat(analyze("INSERT INTO t VALUES (1 ### 2)").writesUnknown()).isTrue();
            assertThat(analyze("UPDATE t SET a = b <=> c").writesUnknown()).isTrue();
            assertThat(analyze("UPDATE t SET a = b + c").writesUnknown()).isFalse();
        }

        @Test
        void setConfigIsReportedAsASessionChange() {
            Analysis a = assertBypass("SELECT set_config('app.tenant', $1, false)", BypassReason.VOLATILE_FUNCTION);
            assertThat(a.callsSetConfig()).isTrue();
            assertThat(analyze("SELECT pg_catalog.set_config('a.b', 'c', true) FROM t").callsSetConfig()).isTrue();
            assertThat(analyze("SELECT current_setting('a.b')").callsSetConfig()).isFalse();
        }

        @Test
        void writingBuiltinsAreUnknownWrites() {
            Analysis a = assertBypass("SELECT lo_import('/tmp/x')", BypassReason.VOLATILE_FUNCTION);
            assertThat(a.writesUnknown()).isTrue();
            assertThat(analyze("SELECT dblink_exec('conn', 'DELETE FROM t')").writesUnknown()).isTrue();
        }

        @Test
        void userFunctionsAreLeftToThePgProcCheck() {
            Analysis a = assertBypass("SELECT my_func(x), Reporting.Total(y), \"CamelFn\"(z) FROM t",
                    BypassReason.UNVERIFIED_FUNCTION);
            assertThat(a.unknownFunctions()).containsExactlyInAnyOrder("my_func", "reporting.total", "CamelFn");
            assertThat(a.reads()).containsExactly(t("t"));
            assertThat(a.writesUnknown()).isFalse();
            assertThat(a.cacheableWhen(f -> true)).isTrue();
            assertThat(a.cacheableWhen(f -> !f.equals("CamelFn"))).isFalse();
            assertThat(a.mayWriteUnknown(f -> false)).isFalse();
            assertThat(a.mayWriteUnknown(f -> f.equals("my_func"))).isTrue();
        }

        @Test
        void userWindowFunctionsAndTableFunctionsAreUnknownToo() {
            assertThat(analyze("SELECT my_rank() OVER (ORDER BY x) FROM t").unknownFunctions()).containsExactly("my_rank");
            assertThat(analyze("SELECT * FROM report_rows($1) r").unknownFunctions()).containsExactly("report_rows");
        }

        @Test
        void aVolatileFunctionWinsOverUnknownOnes() {
            Analysis a = assertBypass("SELECT my_func(now())", BypassReason.VOLATILE_FUNCTION);
            assertThat(a.unknownFunctions()).containsExactly("my_func");
            assertThat(a.cacheableWhen(f -> true)).isFalse();
        }

        @ParameterizedTest
        @ValueSource(strings = {
            "SELECT * FROM t WHERE id = 1 FOR UPDATE",
            "SELECT * FROM t FOR SHARE",
            "SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED",
            "SELECT * FROM t FOR KEY SHARE NOWAIT",
            "SELECT * FROM t UNION SELECT * FROM u FOR UPDATE",
            "SELECT (SELECT x FROM u FOR UPDATE) FROM t",
            "SELECT * FROM (SELECT * FROM u FOR SHARE) s",
        })
        void neverCachesLockingReads(String sql) {
            assertBypass(sql, BypassReason.LOCKING_CLAUSE);
        }

        @Test
        void selectIntoCreatesATable() {
            Analysis a = assertBypass("SELECT * INTO archive FROM orders WHERE ts < $1", BypassReason.SELECT_INTO);
            assertThat(a.kind()).isEqualTo(Kind.SELECT);
            assertThat(a.writes()).containsExactly(t("archive"));
            assertThat(a.reads()).containsExactly(t("orders"));
            assertThat(a.writesUnknown()).isTrue();
        }

        @Test
        void dataModifyingCtesWrite() {
            Analysis a = assertBypass("WITH w AS (UPDATE stock SET n = n - 1 WHERE id = $1 RETURNING *) "
                    + "SELECT * FROM w JOIN items i ON i.id = w.id", BypassReason.MODIFYING_CTE);
            assertThat(a.kind()).isEqualTo(Kind.SELECT);
            assertThat(a.writes()).containsExactly(t("stock"));
            assertThat(a.reads()).containsExactly(t("items"));
            assertThat(a.writesUnknown()).isTrue();

            assertThat(analyze("WITH d AS (DELETE FROM queue WHERE id = 1 RETURNING *), "
                    + "i AS (INSERT INTO log SELECT * FROM d RETURNING 1) SELECT count(*) FROM i").writes())
                    .containsExactlyInAnyOrder(t("queue"), t("log"));
        }

        @ParameterizedTest
        @ValueSource(strings = {
            "SELECT * FROM pg_catalog.pg_class",
            "SELECT * FROM pg_class",
            "SELECT table_name FROM information_schema.tables",
            "SELECT * FROM pg_temp.scratch",
            "SELECT * FROM t WHERE t.oid IN (SELECT oid FROM pg_namespace)",
        })
        void neverCachesSystemCatalogs(String sql) {
            assertBypass(sql, BypassReason.SYSTEM_CATALOG);
        }

        @Test
        void syntaxTheAnalyzerHasNotVettedIsNotCached() {
            Analysis a = assertBypass("SELECT JSON_OBJECT('a' VALUE x) FROM t", BypassReason.UNSUPPORTED_SYNTAX);
            assertThat(a.writesUnknown()).isTrue();
        }

        @Test
        void doesNotCacheWhatJsqlParserRejects() {
            Analysis a = analyze("SELECT * FROM t WHERE x BETWEEN SYMMETRIC 1 AND 2");
            assertThat(a.kind()).isEqualTo(Kind.UNPARSEABLE);
            assertThat(a.reason()).isEqualTo(BypassReason.PARSE_ERROR);
            assertThat(a.cacheable()).isFalse();
            // a plain SELECT without INTO or function calls cannot write
            assertThat(a.writesUnknown()).isFalse();

            Analysis call = analyze("SELECT myagg(x) OVER (w) FROM t WINDOW w AS (PARTITION BY y)");
            assertThat(call.kind()).isEqualTo(Kind.UNPARSEABLE);
            assertThat(call.writesUnknown()).isTrue();
            assertThat(call.unknownFunctions()).contains("myagg");

            Analysis with = analyze("WITH x AS NOT MATERIALIZED (SELECT 1) SELECT * FROM x");
            assertThat(with.kind()).isEqualTo(Kind.UNPARSEABLE);
            assertThat(with.writesUnknown()).isTrue();

            assertThat(analyze("UPDATE ONLY t SET a = 1").writesUnknown()).isTrue();
            assertThat(analyze("SELECT set_config('a', 'b', false) FROM t WHERE x BETWEEN SYMMETRIC 1 AND 2")
                    .callsSetConfig()).isTrue();
        }

        @Test
        void parsesDespiteCommentsAndPostgresOnlyLiterals() {
            assertCacheable("SELECT E'it\\'s', $$a$$, $q$b$q$, U&'d\\0061t', 0x1F, 1_000 /* a /* nested */ comment */ FROM t");
            // a backslash-escaped quote must not make the parser swallow the subquery
            assertThat(assertCacheable("SELECT E'\\\\', (SELECT x FROM hidden), E'\\'' FROM t").reads())
                    .containsExactlyInAnyOrder(t("hidden"), t("t"));
        }

        @Test
        void parsesAnEmptyTargetList() {
            assertThat(assertCacheable("SELECT * FROM t WHERE NOT EXISTS (SELECT FROM u WHERE u.id = t.id)").reads())
                    .containsExactlyInAnyOrder(t("t"), t("u"));
        }

        @Test
        void parsesPostgresOperatorsJsqlParserDoesNotKnow() {
            assertThat(assertCacheable("SELECT id FROM items ORDER BY embedding <-> $1 LIMIT 5").reads())
                    .containsExactly(t("items"));
            assertThat(assertCacheable("SELECT a # 1, (SELECT x FROM s) FROM t WHERE r -|- q AND n ^@ 'x'").reads())
                    .containsExactlyInAnyOrder(t("s"), t("t"));
        }

        @Test
        void theVerdictOfAShapeDoesNotDependOnWhichLiteralsCameFirst() {
            QueryAnalyzer a = new QueryAnalyzer(10);
            QueryAnalyzer b = new QueryAnalyzer(10);
            String one = "SELECT * FROM t WHERE x = E'\\\\' AND y = 1.5 AND z = $$;$$";
            String two = "SELECT * FROM t WHERE x = 'plain' AND y = 0x10 AND z = 'q'";
            assertThat(Fingerprint.of(one)).isEqualTo(Fingerprint.of(two));
            Analysis first = a.analyze(one);
            Analysis second = b.analyze(two);
            assertThat(first).isEqualTo(second);
            assertThat(first.cacheable()).isTrue();
        }
    }

    @Nested
    class Writes {

        @Test
        void insertUpdateDeleteNameTheirTargetAndTheirReads() {
            Analysis insert = analyze("INSERT INTO audit (a, b) SELECT x, y FROM src WHERE id = $1");
            assertThat(insert.kind()).isEqualTo(Kind.INSERT);
            assertThat(insert.reason()).isEqualTo(BypassReason.NOT_SELECT);
            assertThat(insert.writes()).containsExactly(t("audit"));
            assertThat(insert.reads()).containsExactly(t("src"));
            assertThat(insert.writesUnknown()).isFalse();

            Analysis update = analyze("UPDATE s.accounts a SET balance = b.total FROM balances b WHERE a.id = b.id");
            assertThat(update.kind()).isEqualTo(Kind.UPDATE);
            assertThat(update.writes()).containsExactly(t("s", "accounts"));
            assertThat(update.reads()).containsExactly(t("balances"));

            Analysis delete = analyze("DELETE FROM \"Sessions\" USING users u WHERE u.id = \"Sessions\".uid RETURNING *");
            assertThat(delete.kind()).isEqualTo(Kind.DELETE);
            assertThat(delete.writes()).containsExactly(t("Sessions"));
            assertThat(delete.reads()).containsExactly(t("users"));
        }

        @Test
        void upsertWritesItsTarget() {
            Analysis a = analyze("INSERT INTO counters AS c (k, n) VALUES ($1, 1) "
                    + "ON CONFLICT (k) DO UPDATE SET n = c.n + EXCLUDED.n WHERE c.k IN (SELECT k FROM allowed)");
            assertThat(a.kind()).isEqualTo(Kind.INSERT);
            assertThat(a.writes()).containsExactly(t("counters"));
            assertThat(a.reads()).containsExactly(t("allowed"));
        }

        @Test
        void mergeWritesItsTargetAndReadsItsSource() {
            Analysis a = analyze("MERGE INTO inventory t USING deliveries s ON t.id = s.id "
                    + "WHEN MATCHED THEN UPDATE SET qty = t.qty + s.qty "
                    + "WHEN NOT MATCHED THEN INSERT (id, qty) VALUES (s.id, s.qty)");
            assertThat(a.kind()).isEqualTo(Kind.MERGE);
            assertThat(a.writes()).containsExactly(t("inventory"));
            assertThat(a.reads()).containsExactly(t("deliveries"));

            assertThat(analyze("MERGE INTO t USING (SELECT * FROM s JOIN r ON s.id = r.id) src ON t.id = src.id "
                    + "WHEN MATCHED THEN DELETE").reads()).containsExactlyInAnyOrder(t("s"), t("r"));
        }

        @Test
        void dataModifyingCteInFrontOfDmlWritesBoth() {
            Analysis a = analyze("WITH moved AS (DELETE FROM inbox WHERE id = $1 RETURNING *) "
                    + "INSERT INTO archive SELECT * FROM moved");
            assertThat(a.kind()).isEqualTo(Kind.INSERT);
            assertThat(a.writes()).containsExactlyInAnyOrder(t("inbox"), t("archive"));
            assertThat(a.writesUnknown()).isTrue();
        }

        @Test
        void dmlCallingUnknownFunctionsMayWriteAnything() {
            Analysis a = analyze("INSERT INTO t (a) VALUES (audit_and_return($1))");
            assertThat(a.writesUnknown()).isTrue();
            assertThat(a.unknownFunctions()).containsExactly("audit_and_return");
            assertThat(analyze("UPDATE t SET ts = now(), id = nextval('s')").writesUnknown()).isFalse();
        }

        @Test
        void truncateWritesEveryListedTableAndCascadeIsUnknown() {
            Analysis a = analyze("TRUNCATE a, b CASCADE");
            assertThat(a.kind()).isEqualTo(Kind.TRUNCATE);
            assertThat(a.writes()).containsExactlyInAnyOrder(t("a"), t("b"));
            assertThat(a.writesUnknown()).isTrue();

            Analysis b = analyze("TRUNCATE TABLE ONLY s.\"Big\", other * RESTART IDENTITY RESTRICT");
            assertThat(b.writes()).containsExactlyInAnyOrder(t("s", "Big"), t("other"));
            assertThat(b.writesUnknown()).isFalse();
        }

        @Test
        void copyFromWritesAndCopyToReads() {
            Analysis from = analyze("COPY s.\"Items\" (id, name) FROM STDIN WITH (FORMAT csv)");
            assertThat(from.kind()).isEqualTo(Kind.COPY_FROM);
            assertThat(from.writes()).containsExactly(t("s", "Items"));
            assertThat(from.writesUnknown()).isFalse();
            assertThat(analyze("COPY t FROM STDIN WHERE f(x) > 0").writesUnknown()).isTrue();

            Analysis to = analyze("COPY items TO STDOUT");
            assertThat(to.kind()).isEqualTo(Kind.COPY_TO);
            assertThat(to.reads()).containsExactly(t("items"));
            assertThat(to.writes()).isEmpty();

            Analysis query = analyze("COPY (SELECT * FROM a JOIN b ON a.id = b.id WHERE x = 'y;z') TO STDOUT WITH CSV");
            assertThat(query.kind()).isEqualTo(Kind.COPY_TO);
            assertThat(query.reads()).containsExactlyInAnyOrder(t("a"), t("b"));
            assertThat(query.writes()).isEmpty();
            assertThat(query.writesUnknown()).isFalse();

            Analysis dml = analyze("COPY (DELETE FROM jobs RETURNING *) TO STDOUT");
            assertThat(dml.writes()).containsExactly(t("jobs"));
        }

        @Test
        void refreshWritesTheView() {
            Analysis a = analyze("REFRESH MATERIALIZED VIEW CONCURRENTLY reports.daily WITH DATA");
            assertThat(a.kind()).isEqualTo(Kind.REFRESH_MATVIEW);
            assertThat(a.writes()).containsExactly(t("reports", "daily"));
            assertThat(a.writesUnknown()).isFalse();
        }

        @Test
        void ddlAndPermissionChangesAreUnknownWrites() {
            Analysis create = analyze("CREATE TABLE IF NOT EXISTS s.t (id int primary key)");
            assertThat(create.kind()).isEqualTo(Kind.DDL);
            assertThat(create.writesUnknown()).isTrue();
            assertThat(create.writes()).containsExactly(t("s", "t"));
            assertThat(analyze("DROP TABLE IF EXISTS a, b CASCADE").writes()).containsExactlyInAnyOrder(t("a"), t("b"));
            assertThat(analyze("ALTER TABLE ONLY t ADD COLUMN c int").writes()).containsExactly(t("t"));
            assertThat(analyze("CREATE INDEX CONCURRENTLY i ON t (a)").kind()).isEqualTo(Kind.DDL);
            assertThat(analyze("CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql")
                    .writesUnknown()).isTrue();
            assertThat(analyze("COMMENT ON TABLE t IS 'x'").kind()).isEqualTo(Kind.DDL);

            Analysis grant = analyze("REVOKE SELECT ON secrets FROM analyst");
            assertThat(grant.kind()).isEqualTo(Kind.GRANT_REVOKE);
            assertThat(grant.writesUnknown()).isTrue();
        }

        @Test
        void doAndCallRunInvisibleCode() {
            for (String sql : List.of("DO $$ BEGIN UPDATE t SET a = 1; END $$", "DO LANGUAGE plpgsql 'BEGIN END'",
                    "CALL archive_old($1)", "EXECUTE prepared_stmt(1)")) {
                Analysis a = analyze(sql);
                assertThat(a.cacheable()).isFalse();
                assertThat(a.writesUnknown()).as(sql).isTrue();
                assertThat(a.callsSetConfig()).as(sql).isTrue();
            }
            assertThat(analyze("DO $$ BEGIN END $$").kind()).isEqualTo(Kind.DO);
            assertThat(analyze("CALL p()").kind()).isEqualTo(Kind.CALL);
        }

        @Test
        void explainAnalyzeRunsTheStatement() {
            Analysis plain = analyze("EXPLAIN DELETE FROM t");
            assertThat(plain.kind()).isEqualTo(Kind.EXPLAIN);
            assertThat(plain.writes()).isEmpty();
            assertThat(plain.writesUnknown()).isFalse();

            assertThat(analyze("EXPLAIN ANALYZE DELETE FROM t").writes()).containsExactly(t("t"));
            assertThat(analyze("EXPLAIN (FORMAT JSON, ANALYZE) UPDATE t SET a = 1").writes()).containsExactly(t("t"));
            assertThat(analyze("EXPLAIN (ANALYZE off, VERBOSE) DELETE FROM t").writes()).isEmpty();
            assertThat(analyze("EXPLAIN ANALYSE VERBOSE SELECT my_func()").writesUnknown()).isTrue();
            assertThat(analyze("EXPLAIN SELECT * FROM t").reads()).containsExactly(t("t"));
        }
    }

    @Nested
    class TransactionControl {

        @Test
        void recognisesTransactionStartsWithTheirModes() {
            Analysis begin = analyze("BEGIN");
            assertThat(begin.kind()).isEqualTo(Kind.BEGIN);
            assertThat(begin.isolationLevel()).isNull();
            assertThat(begin.readOnly()).isFalse();

            Analysis rr = analyze("BEGIN ISOLATION LEVEL REPEATABLE READ");
            assertThat(rr.kind()).isEqualTo(Kind.BEGIN);
            assertThat(rr.isolationLevel()).isEqualTo("repeatable read");

            Analysis start = analyze("start transaction read only, isolation level serializable, deferrable");
            assertThat(start.kind()).isEqualTo(Kind.BEGIN);
            assertThat(start.isolationLevel()).isEqualTo("serializable");
            assertThat(start.readOnly()).isTrue();

            Analysis work = analyze("BEGIN WORK ISOLATION LEVEL READ COMMITTED READ WRITE");
            assertThat(work.isolationLevel()).isEqualTo("read committed");
            assertThat(work.readOnly()).isFalse();
            assertThat(analyze("BEGIN TRANSACTION ISOLATION LEVEL READ UNCOMMITTED").isolationLevel())
                    .isEqualTo("read uncommitted");
        }

        @Test
        void recognisesTransactionEnds() {
            for (String sql : List.of("COMMIT", "commit work", "END", "END TRANSACTION", "COMMIT AND CHAIN")) {
                assertThat(analyze(sql).kind()).as(sql).isEqualTo(Kind.COMMIT);
                assertThat(analyze(sql).endsTransaction()).isTrue();
            }
            for (String sql : List.of("ROLLBACK", "ABORT", "rollback transaction", "ROLLBACK AND NO CHAIN")) {
                assertThat(analyze(sql).kind()).as(sql).isEqualTo(Kind.ROLLBACK);
            }
        }

        @Test
        void savepointCommandsDoNotEndTheTransaction() {
            for (String sql : List.of("SAVEPOINT a", "RELEASE a", "RELEASE SAVEPOINT a", "ROLLBACK TO a",
                    "ROLLBACK TO SAVEPOINT a", "ROLLBACK WORK TO SAVEPOINT \"A\"")) {
                Analysis a = analyze(sql);
                assertThat(a.kind()).as(sql).isEqualTo(Kind.SAVEPOINT);
                assertThat(a.endsTransaction()).isFalse();
            }
        }

        @Test
        void twoPhaseCommitPublishesWritesAtCommitPrepared() {
            assertThat(analyze("PREPARE TRANSACTION 'tx1'").kind()).isEqualTo(Kind.OTHER);
            Analysis commit = analyze("COMMIT PREPARED 'tx1'");
            assertThat(commit.kind()).isEqualTo(Kind.OTHER);
            assertThat(commit.writesUnknown()).isTrue();
            assertThat(analyze("ROLLBACK PREPARED 'tx1'").kind()).isEqualTo(Kind.OTHER);
        }
    }

    @Nested
    class SessionSettings {

        private Analysis set(String sql, String name, String value) {
            Analysis a = analyze(sql);
            assertThat(a.kind()).as(sql).isEqualTo(Kind.SET);
            assertThat(a.settingName()).as(sql).isEqualTo(name);
            assertThat(a.settingValue()).as(sql).isEqualTo(value);
            return a;
        }

        @Test
        void readsNameAndValueOfSet() {
            set("SET app.tenant = 'Acme'", "app.tenant", "Acme");
            set("set App.Tenant to 42", "app.tenant", "42");
            set("SET search_path TO \"MySchema\", Public", "search_path", "MySchema, public");
            set("SET SESSION TimeZone = 'Europe/Paris'", "timezone", "Europe/Paris");
            set("SET TIME ZONE 'UTC'", "timezone", "UTC");
            set("SET TIME ZONE LOCAL", "timezone", null);
            set("SET statement_timeout TO DEFAULT", "statement_timeout", null);
            set("SET extra_float_digits = -1", "extra_float_digits", "-1");
            set("SET datestyle = ISO, MDY", "datestyle", "iso, mdy");
            set("SET NAMES 'UTF8'", "client_encoding", "UTF8");
            set("SET SCHEMA 'app'", "search_path", "app");
            set("SET XML OPTION DOCUMENT", "xmloption", "document");
            set("SET \"my.setting\" = E'a\\'b'", "my.setting", "a'b");
        }

        @Test
        void distinguishesSetLocal() {
            assertThat(set("SET LOCAL app.tenant = 'x'", "app.tenant", "x").local()).isTrue();
            assertThat(set("SET SESSION app.tenant = 'x'", "app.tenant", "x").local()).isFalse();
            assertThat(set("SET LOCAL ROLE admin", "role", "admin").local()).isTrue();
        }

        @Test
        void rolesAreSettings() {
            set("SET ROLE Admin", "role", "admin");
            set("SET ROLE \"Admin\"", "role", "Admin");
            set("SET ROLE NONE", "role", "none");
            set("SET SESSION AUTHORIZATION 'bob'", "session_authorization", "bob");
            set("SET SESSION AUTHORIZATION DEFAULT", "session_authorization", null);
        }

        @Test
        void transactionCharacteristics() {
            Analysis tx = set("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", "transaction", null);
            assertThat(tx.isolationLevel()).isEqualTo("repeatable read");
            Analysis session = set("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", "session_characteristics", null);
            assertThat(session.readOnly()).isTrue();
            assertThat(set("SET default_transaction_isolation = 'serializable'", "default_transaction_isolation",
                    "serializable").isolationLevel()).isEqualTo("serializable");
            assertThat(set("SET default_transaction_read_only = on", "default_transaction_read_only", "on").readOnly())
                    .isTrue();
        }

        @Test
        void valuesAreNotMemoizedAcrossLiterals() {
            assertThat(analyze("SET app.tenant = 'a'").settingValue()).isEqualTo("a");
            assertThat(analyze("SET app.tenant = 'b'").settingValue()).isEqualTo("b");
            assertThat(analyze("SET app.tenant = 'b'").fingerprint()).isEqualTo(analyze("SET app.tenant = 'a'").fingerprint());
        }

        @Test
        void resetShowAndDiscard() {
            assertThat(analyze("RESET ALL").kind()).isEqualTo(Kind.RESET);
            assertThat(analyze("RESET ALL").settingName()).isEqualTo("all");
            assertThat(analyze("RESET search_path").settingName()).isEqualTo("search_path");
            assertThat(analyze("RESET TIME ZONE").settingName()).isEqualTo("timezone");
            assertThat(analyze("RESET ROLE").settingName()).isEqualTo("role");
            assertThat(analyze("RESET SESSION AUTHORIZATION").settingName()).isEqualTo("session_authorization");
            assertThat(analyze("RESET app.Tenant").settingName()).isEqualTo("app.tenant");

            assertThat(analyze("SHOW search_path").kind()).isEqualTo(Kind.SHOW);
            assertThat(analyze("SHOW TRANSACTION ISOLATION LEVEL").settingName()).isEqualTo("transaction_isolation");

            for (String what : List.of("ALL", "PLANS", "SEQUENCES", "TEMP")) {
                Analysis a = analyze("DISCARD " + what);
                assertThat(a.kind()).isEqualTo(Kind.DISCARD);
                assertThat(a.settingName()).isEqualTo(what.toLowerCase());
            }
            assertThat(analyze("DISCARD TEMPORARY").settingName()).isEqualTo("temp");
        }
    }

    @Nested
    class OtherStatements {

        @Test
        void classifiesTheRest() {
            assertThat(analyze("LISTEN jobs").kind()).isEqualTo(Kind.LISTEN_NOTIFY);
            assertThat(analyze("UNLISTEN *").kind()).isEqualTo(Kind.LISTEN_NOTIFY);
            assertThat(analyze("NOTIFY jobs, 'payload'").kind()).isEqualTo(Kind.LISTEN_NOTIFY);
            assertThat(analyze("PREPARE q (int) AS SELECT * FROM t WHERE id = $1").kind()).isEqualTo(Kind.PREPARE);
            assertThat(analyze("DEALLOCATE ALL").kind()).isEqualTo(Kind.DEALLOCATE);
            assertThat(analyze("DEALLOCATE ALL").settingName()).isNull();
            assertThat(analyze("DEALLOCATE PREPARE ALL").settingName()).isNull();
            assertThat(analyze("DEALLOCATE Q1").settingName()).isEqualTo("q1");
            assertThat(analyze("DEALLOCATE PREPARE \"S_1\"").settingName()).isEqualTo("S_1");
            assertThat(analyze("DEALLOCATE \"all\"").settingName()).isEqualTo("all");
            Analysis exec = analyze("EXECUTE \"S_2\"(1, 'x')");
            assertThat(exec.kind()).isEqualTo(Kind.EXECUTE);
            assertThat(exec.settingName()).isEqualTo("S_2");
            assertThat(exec.writesUnknown()).isTrue();
            assertThat(analyze("LOCK TABLE t IN ACCESS EXCLUSIVE MODE").kind()).isEqualTo(Kind.LOCK);
            assertThat(analyze("VACUUM (VERBOSE, ANALYZE) t").kind()).isEqualTo(Kind.VACUUM_ANALYZE);
            assertThat(analyze("ANALYZE t").kind()).isEqualTo(Kind.VACUUM_ANALYZE);
            assertThat(analyze("CHECKPOINT").kind()).isEqualTo(Kind.OTHER);
            for (String sql : List.of("LISTEN x", "LOCK t", "VACUUM", "PREPARE q AS SELECT 1", "DEALLOCATE q")) {
                assertThat(analyze(sql).writesUnknown()).as(sql).isFalse();
                assertThat(analyze(sql).reason()).as(sql).isEqualTo(BypassReason.NOT_SELECT);
            }
        }

        @Test
        void declareCarriesTheEffectsOfItsQuery() {
            Analysis a = analyze("DECLARE c CURSOR WITH HOLD FOR SELECT * FROM big WHERE f(x)");
            assertThat(a.kind()).isEqualTo(Kind.OTHER);
            assertThat(a.reads()).containsExactly(t("big"));
            assertThat(a.writesUnknown()).isTrue();
        }

        @Test
        void gibberishIsUnparseableAndAnUnknownWrite() {
            for (String sql : List.of("FROBNICATE the_table", "SELECT 'unterminated", "COPY", "TRUNCATE",
                    "REFRESH something")) {
                Analysis a = analyze(sql);
                assertThat(a.kind()).as(sql).isEqualTo(Kind.UNPARSEABLE);
                assertThat(a.reason()).as(sql).isEqualTo(BypassReason.PARSE_ERROR);
                assertThat(a.cacheable()).as(sql).isFalse();
                assertThat(a.writesUnknown()).as(sql).isTrue();
            }
        }

        @Test
        void emptyQueries() {
            for (String sql : List.of("", "  ", ";", " -- nothing\n ; /* */")) {
                Analysis a = analyze(sql);
                assertThat(a.kind()).isEqualTo(Kind.EMPTY);
                assertThat(a.cacheable()).isFalse();
                assertThat(a.writesUnknown()).isFalse();
            }
        }
    }

    @Nested
    class Scripts {

        @Test
        void analyzesEachStatementOfASimpleQuery() {
            List<Analysis> parts = analyzer.analyzeScript(
                    "BEGIN; UPDATE t SET note = 'a;b' WHERE id = 1; SELECT * FROM t; COMMIT;");
            assertThat(parts).extracting(Analysis::kind)
                    .containsExactly(Kind.BEGIN, Kind.UPDATE, Kind.SELECT, Kind.COMMIT);
            assertThat(parts.get(1).writes()).containsExactly(t("t"));
            assertThat(parts.get(2).cacheable()).isTrue();
        }

        @Test
        void aScriptOfOneStatementHasThatStatementsAnalysis() {
            for (String text : List.of("SELECT v FROM t WHERE k = 1;", " ; SELECT v FROM t WHERE k = 1 ;; ",
                    "/* c */ SELECT v FROM t WHERE k = 1 -- end")) {
                List<Analysis> parts = new QueryAnalyzer(10).analyzeScript(text);
                Analysis alone = new QueryAnalyzer(10).analyze("SELECT v FROM t WHERE k = 1");
                assertThat(parts).as(text).hasSize(1);
                assertThat(parts.get(0).fingerprint()).as(text).isEqualTo(alone.fingerprint());
                assertThat(parts.get(0).kind()).isEqualTo(Kind.SELECT);
                assertThat(parts.get(0).cacheable()).isTrue();
                assertThat(parts.get(0).reads()).containsExactly(t("t"));
            }
            assertThat(analyzer.analyzeScript("")).isEmpty();
            assertThat(analyzer.analyzeScript(" ;; -- nothing")).isEmpty();
            assertThat(analyzer.analyzeScript("UPDATE t SET v = 2;").get(0).writes()).containsExactly(t("t"));
        }

        @Test
        void analyzeOfSeveralStatementsIsNeverCacheableAndCombinesEffects() {
            Analysis a = analyze("SELECT * FROM a; DELETE FROM b; DO $$ BEGIN END $$");
            assertThat(a.kind()).isEqualTo(Kind.OTHER);
            assertThat(a.reason()).isEqualTo(BypassReason.MULTI_STATEMENT);
            assertThat(a.cacheable()).isFalse();
            assertThat(a.reads()).containsExactly(t("a"));
            assertThat(a.writes()).containsExactly(t("b"));
            assertThat(a.writesUnknown()).isTrue();
            assertThat(analyze("SELECT 1; SELECT 2").reason()).isEqualTo(BypassReason.MULTI_STATEMENT);
        }
    }

    @Nested
    class Memoization {

        @Test
        void runsTheParserOncePerStatementShape() {
            QueryAnalyzer fresh = new QueryAnalyzer(100);
            Analysis first = fresh.analyze("SELECT * FROM users WHERE id = 1 AND name = 'a'");
            assertThat(fresh.parserRuns()).isEqualTo(1);

            for (int i = 0; i < 1000; i++) {
                Analysis again = fresh.analyze("select *\n from USERS where id = " + i + " and name = $2 -- " + i);
                assertThat(again).isSameAs(first);
            }
            assertThat(fresh.parserRuns()).isEqualTo(1);

            fresh.analyze("SELECT * FROM users WHERE id = 1 OR name = 'a'");
            assertThat(fresh.parserRuns()).isEqualTo(2);
            assertThat(fresh.memoizedVerdicts()).isEqualTo(2);
        }

        @Test
        void listsOfAnyLengthShareOneVerdict() {
            QueryAnalyzer fresh = new QueryAnalyzer(100);
            for (int n = 1; n <= 50; n++) {
                StringBuilder in = new StringBuilder("SELECT * FROM t WHERE id IN ($1");
                StringBuilder values = new StringBuilder("INSERT INTO t (a, b) VALUES (1, 'a')");
                for (int i = 2; i <= n; i++) {
                    in.append(", $").append(i);
                    values.append(", (").append(i).append(", 'a')");
                }
                assertThat(fresh.analyze(in.append(')').toString()).reads()).containsExactly(t("t"));
                assertThat(fresh.analyze(values.toString()).writes()).containsExactly(t("t"));
            }
            // IN ($1), IN ($1, ...), VALUES (..), VALUES (..), ...
            assertThat(fresh.parserRuns()).isEqualTo(4);
        }

        @Test
        void hugeStatementsAreNotKeptInTheMemo() {
            QueryAnalyzer small = new QueryAnalyzer(10);
            // Wide, not deep: a long OR chain is a deep tree, and whether parsing it overflows the stack
            // depends on how much of the parser the JIT has compiled by then.
            StringBuilder huge = new StringBuilder("SELECT c0");
            for (int i = 1; i < 2000; i++) {
                huge.append(", c").append(i);
            }
            huge.append(" FROM t");
            assertThat(small.analyze(huge.toString()).cacheable()).isTrue();
            assertThat(small.analyze(huge.toString()).cacheable()).isTrue();
            assertThat(small.parserRuns()).isEqualTo(2);
            assertThat(small.memoizedVerdicts()).isZero();
        }

        @Test
        void utilityStatementsNeverRunTheParser() {
            QueryAnalyzer fresh = new QueryAnalyzer(100);
            for (String sql : List.of("BEGIN", "SET a.b = 1", "COMMIT", "TRUNCATE t", "COPY t FROM STDIN",
                    "SHOW x", "DISCARD ALL", "ROLLBACK TO SAVEPOINT s")) {
                fresh.analyze(sql);
            }
            assertThat(fresh.parserRuns()).isZero();
            assertThat(fresh.memoizedVerdicts()).isZero();
        }

        @Test
        void memoIsBounded() {
            QueryAnalyzer small = new QueryAnalyzer(10);
            for (int i = 0; i < 200; i++) {
                small.analyze("SELECT c" + i + " FROM t");
            }
            assertThat(small.parserRuns()).isEqualTo(200);
            assertThat(small.memoizedVerdicts()).isLessThanOrEqualTo(10);
        }

        @Test
        void concurrentCallersParseANewShapeOnceAndAgree() throws Exception {
            QueryAnalyzer shared = new QueryAnalyzer(100);
            int threads = 8;
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            CountDownLatch start = new CountDownLatch(1);
            try {
                List<Future<List<Analysis>>> results = new ArrayList<>();
                for (int n = 0; n < threads; n++) {
                    int id = n;
                    Callable<List<Analysis>> task = () -> {
                        start.await();
                        List<Analysis> out = new ArrayList<>();
                        for (int i = 0; i < 200; i++) {
                            out.add(shared.analyze("SELECT * FROM t JOIN u ON t.id = u.tid WHERE t.id = " + (id * 1000 + i)));
                            out.add(shared.analyze("SET app.tenant = '" + id + "'"));
                        }
                        return out;
                    };
                    results.add(pool.submit(task));
                }
                start.countDown();
                Set<TableName> expected = Set.of(t("t"), t("u"));
                for (int n = 0; n < threads; n++) {
                    List<Analysis> out = results.get(n).get(30, TimeUnit.SECONDS);
                    for (int i = 0; i < out.size(); i += 2) {
                        assertThat(out.get(i).reads()).isEqualTo(expected);
                        assertThat(out.get(i + 1).settingValue()).isEqualTo(String.valueOf(n));
                    }
                }
                assertThat(shared.parserRuns()).isEqualTo(1);
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void neverThrowsAndKeepsItsInvariantsOnArbitraryInput() {
        String[] vocabulary = {"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "WITH", "VALUES", "TABLE", "SET",
            "RESET", "SHOW", "BEGIN", "START", "TRANSACTION", "COMMIT", "ROLLBACK", "TO", "SAVEPOINT", "RELEASE",
            "COPY", "FROM", "STDIN", "TRUNCATE", "ONLY", "CASCADE", "EXPLAIN", "ANALYZE", "(", ")", ",", ";", ".",
            "*", "=", "'x'", "E'\\''", "$$d$$", "$1", "1", "t", "\"Q\"", "INTO", "FOR", "SHARE", "AS", "LOCAL",
            "SESSION", "TIME", "ZONE", "ROLE", "ISOLATION", "LEVEL", "READ", "DO", "CALL", "REFRESH", "VIEW",
            "CREATE", "DROP", "IF", "EXISTS", "DECLARE", "CURSOR", "WHERE", "IN", "JOIN", "ON", "LATERAL",
            "current_user", "f", "::", "int", "--c\n", "/*c*/", "DEFAULT", "PREPARED", "EXECUTE", "DISCARD", "ALL",
            "[", "]", "<->", "?", "'now'", "-", "END", "CASE", "FUNCTION", "OR", "REPLACE", "ATOMIC"};
        java.util.Random random = new java.util.Random(20261126);
        QueryAnalyzer fuzzed = new QueryAnalyzer(500);
        for (int i = 0; i < 5000; i++) {
            StringBuilder sql = new StringBuilder();
            for (int k = random.nextInt(12); k > 0; k--) {
                sql.append(vocabulary[random.nextInt(vocabulary.length)]).append(random.nextInt(4) == 0 ? "" : " ");
            }
            String text = sql.toString();
            Analysis a = fuzzed.analyze(text);
            assertThat(a.fingerprint()).as(text).isEqualTo(Fingerprint.of(text));
            if (a.cacheable()) {
                assertThat(a.kind()).as(text).isEqualTo(Kind.SELECT);
                assertThat(a.reason()).as(text).isEqualTo(BypassReason.NONE);
                assertThat(a.writes()).as(text).isEmpty();
                assertThat(a.writesUnknown()).as(text).isFalse();
            } else {
                assertThat(a.reason()).as(text).isNotEqualTo(BypassReason.NONE);
            }
            assertThat(fuzzed.analyzeScript(text)).hasSize(SqlLexer.splitStatements(text).size());
        }
    }

    @Test
    void rejectsANonPositiveMemoSize() {
        assertThatThrownBy(() -> new QueryAnalyzer(0)).isInstanceOf(IllegalArgumentException.class);
    }
}
