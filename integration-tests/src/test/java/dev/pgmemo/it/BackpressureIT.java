package dev.pgmemo.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pgmemo.proxy.PgmemoServer;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufAllocatorMetric;
import io.netty.buffer.ByteBufAllocatorMetricProvider;
import io.netty.buffer.PooledByteBufAllocator;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Backpressure in both directions: a client that stops reading a ~150 MB result, and PostgreSQL that stops
 * reading ~100 MB of COPY data, must stall the other side instead of making pgmemo buffer the difference.
 * pgmemo runs in this JVM, so its buffer memory is measured directly.
 */
@ExtendWith(LeakWatch.class)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BackpressureIT {
    private static final long LIMIT = 32L << 20;

    private static PgmemoServer pgmemo;

    @BeforeAll
    static void startPgmemo() throws Exception {
        pgmemo = ItEnv.startPgmemo();
        ItEnv.execDirect("DROP TABLE IF EXISTS it_bp_copy");
        ItEnv.execDirect("CREATE UNLOGGED TABLE it_bp_copy (v text)");
        // Warm up the allocator's pools and the code paths, so the baseline is not the empty state.
        try (RawPgClient c = new RawPgClient(pgmemo.port())) {
            c.startup(ItEnv.USER, ItEnv.DB);
            c.send(RawPgClient.query("SELECT repeat('w', 1000) FROM generate_series(1, 20000)"));
            while (c.skip() != 'Z') {
                // discard
            }
        }
    }

    @AfterAll
    static void stopPgmemo() throws SQLException {
        if (pgmemo != null) {
            pgmemo.stop(Duration.ofSeconds(5));
        }
        ItEnv.execDirect("DROP TABLE IF EXISTS it_bp_copy");
    }

    /** Memory that buffering in pgmemo would show up in, by source. */
    private static Map<String, Long> memory() {
        System.gc();
        Map<String, Long> m = new LinkedHashMap<>();
        ByteBufAllocator def = ByteBufAllocator.DEFAULT;
        if (def instanceof ByteBufAllocatorMetricProvider p) {
            ByteBufAllocatorMetric metric = p.metric();
            m.put("default allocator (" + def.getClass().getSimpleName() + ") direct", metric.usedDirectMemory());
            m.put("default allocator heap", metric.usedHeapMemory());
        }
        m.put("PooledByteBufAllocator.DEFAULT direct", PooledByteBufAllocator.DEFAULT.metric().usedDirectMemory());
        m.put("PooledByteBufAllocator.DEFAULT heap", PooledByteBufAllocator.DEFAULT.metric().usedHeapMemory());
        for (BufferPoolMXBean pool : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (pool.getName().equals("direct")) {
                m.put("JVM direct buffers", pool.getMemoryUsed());
            }
        }
        m.put("JVM heap after GC", ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
        return m;
    }

    /** Samples a few times and asserts that no source grew by {@link #LIMIT} or more over the baseline. */
    private static void assertNoGrowth(Map<String, Long> baseline, String situation) throws InterruptedException {
        for (int sample = 0; sample < 3; sample++) {
            Map<String, Long> now = memory();
            for (Map.Entry<String, Long> e : now.entrySet()) {
                long growth = e.getValue() - baseline.getOrDefault(e.getKey(), 0L);
                assertThat(growth).as(situation + ": growth of " + e.getKey() + " (baseline " + baseline + ", now " + now + ")")
                        .isLessThan(LIMIT);
            }
            Thread.sleep(500);
        }
    }

    private static String waitEvent(Connection d, int pid) throws SQLException {
        return ItEnv.queryString(d, "SELECT coalesce(state, '') || '/' || coalesce(wait_event, '')"
                + " FROM pg_stat_activity WHERE pid = " + pid);
    }

    @Test
    void stalledClientStallsPostgresInsteadOfFillingPgmemo() throws Exception {
        Map<String, Long> baseline = memory();
        int rows = 150_000;
        try (RawPgClient c = new RawPgClient(pgmemo.port()); Connection d = ItEnv.direct()) {
            c.startup(ItEnv.USER, ItEnv.DB);
            c.send(RawPgClient.query("SELECT repeat('x', 1000) FROM generate_series(1, " + rows + ")"));
            assertThat(c.read().type()).isEqualTo('T');

            // The client reads nothing more. PostgreSQL must end up blocked writing to its socket (pgmemo
            // stopped reading it) rather than finishing the 150 MB query into pgmemo's buffers.
            await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200))
                    .until(() -> waitEvent(d, c.backendPid), s -> s.equals("active/ClientWrite"));
            Thread.sleep(1000);
            assertNoGrowth(baseline, "while the client is stalled");
            assertThat(waitEvent(d, c.backendPid)).isEqualTo("active/ClientWrite");

            long dataRows = 0;
            while (dataRows < rows) {
                char type = c.skip();
                if (type != 'D') {
                    throw new AssertionError("message '" + type + "' after " + dataRows + " rows");
                }
                dataRows++;
            }
            RawPgClient.Message cc = c.read();
            assertThat(cc.type()).as(cc.toString()).isEqualTo('C');
            assertThat(new String(cc.body(), 0, cc.body().length - 1, StandardCharsets.UTF_8)).isEqualTo("SELECT " + rows);
            assertThat(c.read().type()).isEqualTo('Z');
            c.send(RawPgClient.terminate());
        }
    }

    @Test
    void blockedUpstreamStallsTheClientInsteadOfFillingPgmemo() throws Exception {
        int rows = 100_000;
        byte[] row = new byte[1000];
        Arrays.fill(row, (byte) 'y');
        row[row.length - 1] = '\n';
        byte[] copyData = ByteBuffer.allocate(5 + row.length).put((byte) 'd').putInt(4 + row.length).put(row).array();
        long total = (long) rows * copyData.length;

        try (Connection locker = ItEnv.direct(); Connection d = ItEnv.direct();
             RawPgClient c = new RawPgClient(pgmemo.port())) {
            locker.setAutoCommit(false);
            try (Statement s = locker.createStatement()) {
                s.execute("LOCK TABLE it_bp_copy IN ACCESS EXCLUSIVE MODE");
            }
            c.startup(ItEnv.USER, ItEnv.DB);
            c.socket.setSendBufferSize(64 * 1024);
            Map<String, Long> baseline = memory();

            // The COPY waits for the lock, so PostgreSQL reads nothing while the client keeps sending.
            c.send(RawPgClient.query("COPY it_bp_copy FROM STDIN"));
            AtomicLong sent = new AtomicLong();
            OutputStream out = c.socket.getOutputStream();
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
                try {
                    for (int i = 0; i < rows; i++) {
                        out.write(copyData);
                        sent.addAndGet(copyData.length);
                    }
                    out.write(new byte[] {'c', 0, 0, 0, 4});   // CopyDone
                    out.flush();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }, r -> new Thread(r, "it-copy-writer").start());

            await().atMost(Duration.ofSeconds(20)).until(() -> waitEvent(d, c.backendPid).startsWith("active/"));
            // Let the writer run into the stall, then check it really is stalled.
            long before;
            long after = sent.get();
            do {
                before = after;
                Thread.sleep(1000);
                after = sent.get();
            } while (after != before && after < total);
            assertThat(writer).as("the client must be blocked while PostgreSQL reads nothing").isNotDone();
            assertThat(after).as("bytes the client got rid of while PostgreSQL read nothing").isLessThan(LIMIT * 2);
            assertNoGrowth(baseline, "while the upstream is blocked");
            locker.rollback();   // releases the lock: the COPY proceeds

            writer.get(60, TimeUnit.SECONDS);
            RawPgClient.Message m;
            do {
                m = c.read();
            } while (m.type() != 'C' && m.type() != 'E');
            assertThat(m.type()).as(m.toString()).isEqualTo('C');
            assertThat(new String(m.body(), StandardCharsets.UTF_8)).startsWith("COPY " + rows);
            assertThat(c.read().type()).isEqualTo('Z');
            assertThat(ItEnv.queryLong(d, "SELECT count(*) FROM it_bp_copy")).isEqualTo(rows);
        }
    }
}
