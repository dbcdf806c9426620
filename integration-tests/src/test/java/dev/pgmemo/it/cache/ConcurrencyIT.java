package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.it.cache.CacheIt.Metrics;
import dev.pgmemo.it.cache.CacheIt.Mode;
import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.proxy.PgmemoServer;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Writers increment a counter through pgmemo while readers read it through pgmemo: a read that starts
 * after a write was acknowledged never returns an older value, whatever the cache holds.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class ConcurrencyIT {
    private static final int WRITERS = 4;
    private static final int READERS = 4;
    private static final long RUN_MILLIS = 5_000;
    private static final long MAX_RUN_MILLIS = 20_000;
    private static final Mode[] READER_MODES = {Mode.SIMPLE, Mode.EXTENDED, Mode.SERVER_PREPARED, Mode.BINARY};
    private static final Mode[] WRITER_MODES = {Mode.EXTENDED, Mode.SIMPLE, Mode.BINARY, Mode.UNNAMED};

    @ParameterizedTest
    @EnumSource(Store.class)
    void readsNeverGoBehindAcknowledgedWrites(Store store) throws Exception {
        String table = "memo_counter_" + CacheIt.uid();
        CacheIt.execDirect("CREATE TABLE " + table + " (id int PRIMARY KEY, v bigint NOT NULL)",
                "INSERT INTO " + table + " VALUES (1, 0)");
        String increment = "UPDATE " + table + " SET v = v + 1 WHERE id = ? RETURNING v";
        String read = "SELECT v FROM " + table + " WHERE id = ?";
        AtomicLong maxAcknowledged = new AtomicLong();
        AtomicLong writes = new AtomicLong();
        AtomicLong reads = new AtomicLong();
        AtomicBoolean stop = new AtomicBoolean();
        List<String> violations = Collections.synchronizedList(new ArrayList<>());
        List<Throwable> errors = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch done = new CountDownLatch(WRITERS + READERS);
        try (PgmemoServer pgmemo = CacheIt.start(store)) {
            List<Thread> threads = new ArrayList<>();
            for (int i = 0; i < WRITERS; i++) {
                Mode mode = WRITER_MODES[i % WRITER_MODES.length];
                threads.add(new Thread(() -> {
                    try (Connection c = CacheIt.connect(pgmemo, mode)) {
                        while (!stop.get()) {
                            long v = Long.parseLong(CacheIt.one(c, increment, 1));
                            maxAcknowledged.accumulateAndGet(v, Math::max);
                            writes.incrementAndGet();
                            Thread.sleep(10); // leave room for cache hits between writes
                        }
                    } catch (Throwable t) {
                        errors.add(t);
                    } finally {
                        done.countDown();
                    }
                }, "writer-" + i));
            }
            for (int i = 0; i < READERS; i++) {
                Mode mode = READER_MODES[i % READER_MODES.length];
                threads.add(new Thread(() -> {
                    try (Connection c = CacheIt.connect(pgmemo, mode)) {
                        while (!stop.get()) {
                            long floor = maxAcknowledged.get();
                            long v = Long.parseLong(CacheIt.one(c, read, 1));
                            reads.incrementAndGet();
                            if (v < floor) {
                                violations.add(mode + " read " + v + " after " + floor + " was acknowledged");
                            }
                        }
                    } catch (Throwable t) {
                        errors.add(t);
                    } finally {
                        done.countDown();
                    }
                }, "reader-" + mode));
            }
            Metrics before = CacheIt.metrics(pgmemo);
            threads.forEach(Thread::start);
            Thread.sleep(RUN_MILLIS);
            // On a slow machine run on a little, up to MAX_RUN_MILLIS, until the run has enough traffic to mean something.
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(MAX_RUN_MILLIS - RUN_MILLIS);
            while (System.nanoTime() < deadline && errors.isEmpty() && (reads.get() < 200 || writes.get() < 50
                    || CacheIt.metrics(pgmemo).hits() == before.hits())) {
                Thread.sleep(250);
            }
            stop.set(true);
            if (!done.await(30, TimeUnit.SECONDS)) {
                StringBuilder stuck = new StringBuilder();
                for (Thread t : threads) {
                    if (t.isAlive()) {
                        stuck.append(t.getName()).append(":\n");
                        for (StackTraceElement e : t.getStackTrace()) {
                            stuck.append("    at ").append(e).append('\n');
                        }
                    }
                }
                throw new AssertionError("threads still running 30 s after the stop (" + writes.get() + " writes, "
                        + reads.get() + " reads):\n" + stuck);
            }
            Metrics after = CacheIt.metrics(pgmemo);
            System.out.printf("ConcurrencyIT %s: %d writes, %d reads, %s%n", store, writes.get(), reads.get(), after.since(before));

            assertThat(errors).as("errors").isEmpty();
            assertThat(violations).as("stale reads (of %d reads, %d writes)", reads.get(), writes.get()).isEmpty();
            assertThat(writes.get()).as("writes").isGreaterThan(20);
            assertThat(reads.get()).as("reads").isGreaterThan(50);
            assertThat(after.hits() - before.hits()).as("the cache was used: %s", after.since(before)).isPositive();
            long finalValue = Long.parseLong(CacheIt.oneDirect(read, 1));
            assertThat(finalValue).isEqualTo(writes.get()).isEqualTo(maxAcknowledged.get());
            try (Connection c = CacheIt.connect(pgmemo, Mode.EXTENDED)) {
                assertThat(Long.parseLong(CacheIt.one(c, read, 1))).as("read through pgmemo at the end").isEqualTo(finalValue);
            }
        } finally {
            CacheIt.execDirect("DROP TABLE IF EXISTS " + table);
        }
    }
}
