package dev.pgmemo.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.proxy.PgmemoServer;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The relay's message and byte counters on {@code /metrics} count every message each way exactly once, both on
 * the plain relay (caching off) and on the cache-aware path with every query going to PostgreSQL.
 */
@ExtendWith(LeakWatch.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RelayMetricsIT {
    private static final int QUERIES = 50;
    private static final String SQL = "SELECT 42";

    @ParameterizedTest
    @ValueSource(strings = {"enabled: false", "default_ttl: 0s"})
    void everyMessageIsCountedOnceEachWay(String cacheSetting) throws Exception {
        PgmemoServer pgmemo = ItEnv.startPgmemo(ItEnv.baseYaml().replace("enabled: false", cacheSetting));
        try (Connection c = ItEnv.connect(pgmemo.port(), "preferQueryMode=simple");
             Statement st = c.createStatement()) {
            try (ResultSet rs = st.executeQuery(SQL)) { // past the start-up and pgjdbc's first settings
                rs.next();
            }
            int port = pgmemo.adminPort();
            double msgsIn = AdminHttp.metric(port, "pgmemo_messages_total", "direction=\"client_to_upstream\"");
            double msgsOut = AdminHttp.metric(port, "pgmemo_messages_total", "direction=\"upstream_to_client\"");
            double bytesIn = AdminHttp.metric(port, "pgmemo_bytes_total", "direction=\"client_to_upstream\"");
            double bytesOut = AdminHttp.metric(port, "pgmemo_bytes_total", "direction=\"upstream_to_client\"");

            for (int i = 0; i < QUERIES; i++) {
                try (ResultSet rs = st.executeQuery(SQL)) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getInt(1)).isEqualTo(42);
                }
            }

            // Each query: one Query message; its reply: RowDescription, DataRow, CommandComplete, ReadyForQuery.
            int query = 1 + 4 + SQL.getBytes(StandardCharsets.UTF_8).length + 1;
            int reply = (1 + 4 + 2 + "?column?".length() + 1 + 18) + (1 + 4 + 2 + 4 + 2) + (1 + 4 + "SELECT 1".length() + 1)
                    + (1 + 4 + 1);
            assertThat(AdminHttp.metric(port, "pgmemo_messages_total", "direction=\"client_to_upstream\"") - msgsIn)
                    .isEqualTo(QUERIES);
            assertThat(AdminHttp.metric(port, "pgmemo_messages_total", "direction=\"upstream_to_client\"") - msgsOut)
                    .isEqualTo(4 * QUERIES);
            assertThat(AdminHttp.metric(port, "pgmemo_bytes_total", "direction=\"client_to_upstream\"") - bytesIn)
                    .isEqualTo((double) QUERIES * query);
            assertThat(AdminHttp.metric(port, "pgmemo_bytes_total", "direction=\"upstream_to_client\"") - bytesOut)
                    .isEqualTo((double) QUERIES * reply);
        } finally {
            pgmemo.stop(Duration.ofSeconds(5));
        }
    }
}
