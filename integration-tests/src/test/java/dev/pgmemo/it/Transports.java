package dev.pgmemo.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.proxy.PgmemoServer;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.uring.IoUring;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.function.Supplier;

/** The socket transports pgmemo can run on ({@code -Dpgmemo.transport}), for tests that run on each. */
public final class Transports {
    public static final List<String> ALL = List.of("io_uring", "epoll", "nio");

    private Transports() {
    }

    /** {@link #ALL}, as a JUnit {@code @MethodSource}. */
    public static List<String> all() {
        return ALL;
    }

    /** What pgmemo runs on when asked for {@code wanted}: the same, or the next one this kernel allows. */
    public static String expected(String wanted) {
        if (wanted.equals("io_uring") && IoUring.isAvailable()) {
            return "io_uring";
        }
        return !wanted.equals("nio") && Epoll.isAvailable() ? "epoll" : "nio";
    }

    /**
     * Reads 100 000 rows of ~110 bytes on {@code c}: far more than the socket buffers hold, so pgmemo's
     * reading pauses and resumes on the way; checks that every row arrived.
     */
    public static void assertLargeResultArrivesWhole(Connection c) throws SQLException {
        try (Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT g, repeat('x', 100) FROM generate_series(1, 100000) g")) {
            long rows = 0;
            long sum = 0;
            while (rs.next()) {
                rows++;
                sum += rs.getLong(1);
            }
            assertThat(rows).isEqualTo(100_000);
            assertThat(sum).isEqualTo(100_000L * 100_001L / 2);
        }
    }

    /** Starts pgmemo with {@code -Dpgmemo.transport=transport} set while {@code start} runs. */
    public static PgmemoServer startOn(String transport, Supplier<PgmemoServer> start) {
        String before = System.getProperty("pgmemo.transport");
        System.setProperty("pgmemo.transport", transport);
        try {
            return start.get();
        } finally {
            if (before == null) {
                System.clearProperty("pgmemo.transport");
            } else {
                System.setProperty("pgmemo.transport", before);
            }
        }
    }
}
