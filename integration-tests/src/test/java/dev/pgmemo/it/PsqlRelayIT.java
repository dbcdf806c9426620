package dev.pgmemo.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.proxy.PgmemoServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** psql through pgmemo: scripts, several statements per line and per Query message, \copy, ON_ERROR_STOP. */
@ExtendWith(LeakWatch.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PsqlRelayIT {
    private static PgmemoServer pgmemo;

    @TempDir
    Path dir;

    @BeforeAll
    static void startPgmemo() throws SQLException {
        pgmemo = ItEnv.startPgmemo();
        dropTables();
    }

    @AfterAll
    static void stopPgmemo() throws SQLException {
        if (pgmemo != null) {
            pgmemo.stop(Duration.ofSeconds(5));
        }
        dropTables();
    }

    private static void dropTables() throws SQLException {
        ItEnv.execDirect("DROP TABLE IF EXISTS it_psql_t, it_psql_err, it_psql_cmp");
    }

    private Cmd.Result psql(int port, String... args) {
        List<String> cmd = new ArrayList<>(List.of("psql", "-X", "-h", "127.0.0.1", "-p", String.valueOf(port),
                "-U", ItEnv.USER, "-d", ItEnv.DB));
        cmd.addAll(List.of(args));
        return Cmd.run(Duration.ofSeconds(45), dir, null, null, cmd);
    }

    @Test
    void scriptWithSeveralStatementsPerLineAndCopyRuns() throws IOException, SQLException {
        StringBuilder in = new StringBuilder();
        for (int i = 3; i <= 1000; i++) {
            in.append(i).append(",name ").append(i).append('\n');
        }
        Files.writeString(dir.resolve("in.csv"), in);
        Files.writeString(dir.resolve("script.sql"), """
                DROP TABLE IF EXISTS it_psql_t; CREATE TABLE it_psql_t (id int PRIMARY KEY, name text); INSERT INTO it_psql_t VALUES (1, 'one'), (2, 'two, "quoted"');
                SELECT 'count=' || count(*) FROM it_psql_t; SELECT 'sum=' || sum(id) FROM it_psql_t;
                SELECT 'multi-a' \\; SELECT 'multi-b' \\; SELECT 'multi-c';
                \\copy it_psql_t TO 'out.csv' WITH (FORMAT csv)
                \\copy it_psql_t FROM 'in.csv' WITH (FORMAT csv)
                SELECT 'total=' || count(*) || ',' || sum(id) FROM it_psql_t;
                """);

        Cmd.Result r = psql(pgmemo.port(), "-At", "-v", "ON_ERROR_STOP=1", "-f", "script.sql");

        assertThat(r.exitCode()).as(r.describe()).isZero();
        assertThat(r.stdout().lines().toList()).as(r.describe()).containsExactly(
                "DROP TABLE", "CREATE TABLE", "INSERT 0 2", "count=2", "sum=3", "multi-a", "multi-b", "multi-c",
                "COPY 2", "COPY 998", "total=1000,500500");
        assertThat(Files.readString(dir.resolve("out.csv"))).isEqualTo("1,one\n2,\"two, \"\"quoted\"\"\"\n");
        try (Connection d = ItEnv.direct()) {
            assertThat(ItEnv.queryLong(d, "SELECT count(*) FROM it_psql_t")).isEqualTo(1000);
            assertThat(ItEnv.queryString(d, "SELECT name FROM it_psql_t WHERE id = 1000")).isEqualTo("name 1000");
        }
    }

    @Test
    void oneQueryMessageWithSeveralStatementsReturnsEveryResult() {
        // psql -c sends the whole string as one simple-protocol Query; psql 15 prints every result.
        Cmd.Result r = psql(pgmemo.port(), "-At", "-c", "SELECT 'x1'; SELECT 'x2' UNION ALL SELECT 'x3'; SELECT 'x4'");
        assertThat(r.exitCode()).as(r.describe()).isZero();
        assertThat(r.stdout().lines().toList()).containsExactly("x1", "x2", "x3", "x4");
    }

    @Test
    void errorWithOnErrorStopExitsWith3AndRunsNothingAfter() throws IOException, SQLException {
        ItEnv.execDirect("CREATE TABLE it_psql_err (id int)");
        Files.writeString(dir.resolve("failing.sql"), """
                INSERT INTO it_psql_err VALUES (1);
                SELECT 'before-error';
                SELECT 1/0;
                INSERT INTO it_psql_err VALUES (2);
                SELECT 'after-error';
                """);

        Cmd.Result r = psql(pgmemo.port(), "-At", "-v", "ON_ERROR_STOP=1", "-f", "failing.sql");

        assertThat(r.exitCode()).as(r.describe()).isEqualTo(3);
        assertThat(r.stderr()).contains("failing.sql:3: ERROR:  division by zero");
        assertThat(r.stdout()).contains("before-error").doesNotContain("after-error");
        try (Connection d = ItEnv.direct()) {
            assertThat(ItEnv.queryString(d, "SELECT string_agg(id::text, ',') FROM it_psql_err")).isEqualTo("1");
        }
    }

    @Test
    void outputIsIdenticalToADirectConnection() throws IOException, SQLException {
        try (Connection d = ItEnv.direct(); Statement s = d.createStatement()) {
            s.execute("CREATE TABLE it_psql_cmp (id int PRIMARY KEY, label text NOT NULL DEFAULT 'x', amount numeric(10,2),"
                    + " at timestamptz, tags text[])");
            s.execute("CREATE INDEX it_psql_cmp_label ON it_psql_cmp (label)");
            s.execute("INSERT INTO it_psql_cmp VALUES (1, 'ünï ✓', 12.5, '2024-01-02 03:04:05+00', '{a,b}'),"
                    + " (2, 'two', NULL, NULL, NULL), (3, E'multi\\nline', -0.01, 'infinity', '{}')");
        }
        // Catalog queries (\d), several output formats, NULL display, an error and a notice.
        Files.writeString(dir.resolve("compare.sql"), """
                \\pset null '(null)'
                SET TimeZone = 'UTC';
                SELECT * FROM it_psql_cmp ORDER BY id;
                \\d it_psql_cmp
                \\x on
                SELECT id, label FROM it_psql_cmp WHERE id = 1;
                \\x off
                SELECT 1/0;
                DO $$ BEGIN RAISE NOTICE 'notice from it'; END $$;
                SELECT count(*) FROM it_psql_cmp;
                """);
        Cmd.Result direct = psql(ItEnv.PG_PORT, "-f", "compare.sql");
        Cmd.Result proxied = psql(pgmemo.port(), "-f", "compare.sql");

        assertThat(direct.stdout()).contains("it_psql_cmp_label").contains("ünï ✓").contains("(null)");
        assertThat(direct.stderr()).contains("division by zero").contains("notice from it");
        assertThat(proxied.exitCode()).isEqualTo(direct.exitCode());
        assertThat(proxied.stdout()).isEqualTo(direct.stdout());
        assertThat(proxied.stderr()).isEqualTo(direct.stderr());
    }
}
