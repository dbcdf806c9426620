package dev.pgmemo.it.safety;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * PostgreSQL restarted under pgmemo (a private cluster, never the shared one): clients of the old server get
 * a clean error, new connections work when it is back, cached reads stay right, and pgmemo keeps running.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class UpstreamRestartSafetyIT {

    private static boolean isConnectionError(SQLException e) {
        String state = e.getSQLState();
        return state != null && (state.startsWith("08") || state.equals("57P01"));
    }

    @Test
    void restartGivesCleanErrorsAndPgmemoServesNewConnectionsCorrectly() throws Exception {
        String dbName = "safety_restart_" + Sql.suffix();
        try (OwnPostgres pg = OwnPostgres.start()) {
            try (Connection c = Sql.connect(pg.port, "postgres", Sql.SUPERUSER, Mode.SIMPLE)) {
                Sql.exec(c, "CREATE DATABASE " + dbName);
            }
            try (Memo m = Memo.start(pg.port, Memo.SHARED_REDIS, "1s")) {
                m.awaitStoreAvailable();
                String q = "SELECT v FROM rt ORDER BY v";
                try (Connection idle = m.connect(dbName, Mode.SIMPLE); Connection busy = m.connect(dbName, Mode.PREPARED)) {
                    Sql.exec(idle, "CREATE TABLE rt (v text)", "INSERT INTO rt VALUES ('before')");
                    assertThat(m.warm(idle, q)).containsExactly("before");
                    assertThat(m.warm(busy, q)).containsExactly("before");

                    CompletableFuture<SQLException> running = CompletableFuture.supplyAsync(() ->
                            catchThrowableOfType(SQLException.class, () -> Sql.rows(busy, "SELECT pg_sleep(60)")));
                    Memo.sleep(500); // the sleep is running on the server
                    long restartStart = System.nanoTime();
                    pg.restartFast();

                    SQLException busyError = running.get(30, TimeUnit.SECONDS);
                    assertThat((Object) busyError).as("the client whose query was running").isNotNull();
                    assertThat(isConnectionError(busyError)).as("SQLSTATE %s: %s", busyError.getSQLState(),
                            busyError.getMessage()).isTrue();
                    assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - restartStart)).isLessThan(30);

                    long start = System.nanoTime();
                    SQLException idleError = catchThrowableOfType(SQLException.class, () -> Sql.rows(idle, q));
                    assertThat((Object) idleError).as("the idle client's next query, even a cached one").isNotNull();
                    assertThat(isConnectionError(idleError)).as("SQLSTATE %s: %s", idleError.getSQLState(),
                            idleError.getMessage()).isTrue();
                    assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).as("error without a hang")
                            .isLessThan(10_000);
                }
                assertThat(m.server.isStopped()).as("pgmemo keeps running").isFalse();

                try (Connection fresh = m.connect(dbName, Mode.SIMPLE); Connection other = m.connect(dbName, Mode.PREPARED)) {
                    assertThat(Sql.rows(fresh, q)).containsExactly("before");
                    Sql.exec(fresh, "INSERT INTO rt VALUES ('after')");
                    assertThat(Sql.rows(other, q)).as("after a write through the restarted server").containsExactly("after", "before");
                    assertThat(m.warm(other, q)).containsExactly("after", "before");
                    assertThat(Sql.one(fresh, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"))
                            .isNotEmpty();
                }
                List<String> again;
                try (Connection c = m.connect(dbName, Mode.SIMPLE)) {
                    again = Sql.rows(c, q);
                }
                assertThat(again).containsExactly("after", "before");
            }
        }
    }
}
