package dev.pgmemo.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.proxy.PgmemoServer;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** pgbench through pgmemo: initialization (COPY, DDL, VACUUM) and short concurrent runs in each query mode. */
@ExtendWith(LeakWatch.class)
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class PgbenchRelayIT {
    private static final String DB = "pgmemo_it_bench";
    private static final Pattern PROCESSED = Pattern.compile("number of transactions actually processed: (\\d+)");

    private static PgmemoServer pgmemo;
    private static Cmd.Result init;

    @BeforeAll
    static void createDatabaseAndInitialize() throws SQLException {
        pgmemo = ItEnv.startPgmemo();
        ItEnv.execDirect("DROP DATABASE IF EXISTS " + DB + " WITH (FORCE)");
        ItEnv.execDirect("CREATE DATABASE " + DB);
        init = pgbench("-i", "-s", "1");
    }

    @AfterAll
    static void dropDatabase() throws SQLException {
        if (pgmemo != null) {
            pgmemo.stop(Duration.ofSeconds(5));
        }
        ItEnv.execDirect("DROP DATABASE IF EXISTS " + DB + " WITH (FORCE)");
    }

    private static Cmd.Result pgbench(String... args) {
        List<String> cmd = new ArrayList<>(List.of("pgbench", "-h", "127.0.0.1", "-p", String.valueOf(pgmemo.port()),
                "-U", ItEnv.USER));
        cmd.addAll(List.of(args));
        cmd.add(DB);
        return Cmd.run(Duration.ofSeconds(60), null, null, null, cmd);
    }

    private static long processed(Cmd.Result r) {
        Matcher m = PROCESSED.matcher(r.stdout());
        assertThat(m.find()).as(r.describe()).isTrue();
        return Long.parseLong(m.group(1));
    }

    @Test
    void initializationThroughPgmemoLoadsEveryRow() throws SQLException {
        assertThat(init.exitCode()).as(init.describe()).isZero();
        assertThat(init.stderr()).contains("done in");
        try (Connection d = ItEnv.direct(DB)) {
            assertThat(ItEnv.queryLong(d, "SELECT count(*) FROM pgbench_accounts")).isEqualTo(100_000);
            assertThat(ItEnv.queryLong(d, "SELECT count(*) FROM pgbench_branches")).isEqualTo(1);
            assertThat(ItEnv.queryLong(d, "SELECT count(*) FROM pgbench_tellers")).isEqualTo(10);
            assertThat(ItEnv.queryLong(d, "SELECT count(*) FROM pg_indexes WHERE indexname = 'pgbench_accounts_pkey'"))
                    .isEqualTo(1);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"simple", "extended", "prepared"})
    void selectOnlyRunHasNoFailures(String mode) {
        double connectionsBefore = AdminHttp.metric(pgmemo.adminPort(), "pgmemo_client_connections_total", null);

        Cmd.Result r = pgbench("-S", "-T", "3", "-c", "4", "-j", "2", "-M", mode);

        assertThat(r.exitCode()).as(r.describe()).isZero();
        assertThat(r.stdout()).as(r.describe()).contains("query mode: " + mode).contains("number of failed transactions: 0 ");
        assertThat(processed(r)).as(r.describe()).isPositive();
        // The four clients really went through pgmemo.
        assertThat(AdminHttp.metric(pgmemo.adminPort(), "pgmemo_client_connections_total", null))
                .isGreaterThanOrEqualTo(connectionsBefore + 4);
    }

    @Test
    void readWriteRunCommitsEveryTransaction() throws SQLException {
        long historyBefore;
        try (Connection d = ItEnv.direct(DB)) {
            historyBefore = ItEnv.queryLong(d, "SELECT count(*) FROM pgbench_history");
        }

        Cmd.Result r = pgbench("-T", "3", "-c", "4", "-j", "2", "-M", "extended");

        assertThat(r.exitCode()).as(r.describe()).isZero();
        assertThat(r.stdout()).as(r.describe()).contains("number of failed transactions: 0 ");
        long processed = processed(r);
        assertThat(processed).as(r.describe()).isPositive();
        // TPC-B-like: every transaction inserts one history row; all of them must have been committed.
        try (Connection d = ItEnv.direct(DB)) {
            assertThat(ItEnv.queryLong(d, "SELECT count(*) FROM pgbench_history") - historyBefore).isEqualTo(processed);
        }
    }
}
