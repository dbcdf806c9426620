package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.it.cache.WireClient.Msg;
import dev.pgmemo.proxy.PgmemoServer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * COPY FROM STDIN run with the extended protocol. PostgreSQL ignores Sync while it is in copy-in mode, so
 * a client that sends Sync right after the Execute (before its CopyData) gets one ReadyForQuery for two
 * Syncs. pgmemo must expect exactly the replies PostgreSQL sends: a Sync it waited for in vain used to
 * hold every later request of the session, and shifted the moment a write's invalidation happened.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ExtendedCopyIT {
    private static final String TABLE = "memo_xcopy_" + CacheIt.uid();
    private static final AtomicInteger keys = new AtomicInteger();
    private static PgmemoServer pgmemo;

    @BeforeAll
    static void setUp() throws Exception {
        CacheIt.execDirect("CREATE TABLE " + TABLE + " (k int PRIMARY KEY, v text NOT NULL)");
        pgmemo = CacheIt.start(Store.MEMORY);
    }

    @AfterAll
    static void tearDown() throws Exception {
        if (pgmemo != null) {
            pgmemo.close();
        }
        CacheIt.execDirect("DROP TABLE IF EXISTS " + TABLE);
    }

    private static WireClient connect() throws Exception {
        return new WireClient(pgmemo.port(), CacheIt.USER, "test");
    }

    private static List<String> rows(List<Msg> replies) {
        return replies.stream().filter(m -> m.type() == 'D').map(m -> m.columns().get(0)).toList();
    }

    private static List<Character> types(List<Msg> replies) {
        return replies.stream().map(Msg::type).toList();
    }

    private static String count(WireClient c) throws Exception {
        List<Msg> replies = c.query("SELECT count(*) FROM " + TABLE).flush().readUntilReady();
        assertThat(replies).noneMatch(m -> m.type() == 'E');
        return rows(replies).get(0);
    }

    /** Reads the count twice through another session, so that the second read is served from the cache. */
    private static String cachedCount() throws Exception {
        try (WireClient other = connect()) {
            count(other);
            return count(other);
        }
    }

    private static List<Msg> readUntil(WireClient c, char type) throws Exception {
        List<Msg> msgs = new ArrayList<>();
        while (true) {
            Msg m = c.read();
            msgs.add(m);
            if (m.type() == type || m.type() == 'Z') {
                return msgs;
            }
        }
    }

    /** Parse/Bind/Execute of a COPY FROM STDIN and a Sync at once; returns when copy-in has begun. */
    private static void startCopyWithEarlySync(WireClient c) throws Exception {
        c.parse("", "COPY " + TABLE + " FROM STDIN").bind("", "").execute("").sync().flush();
        assertThat(types(readUntil(c, 'G'))).containsExactly('1', '2', 'G');
    }

    @Test
    void earlySyncPipelinedWithTheCopyData() throws Exception {
        String before = cachedCount();
        try (WireClient c = connect()) {
            int k = keys.incrementAndGet();
            c.parse("", "COPY " + TABLE + " FROM STDIN").bind("", "").execute("").sync()
                    .copyData(k + "\tpipelined\n").copyDone().sync().flush();
            assertThat(types(c.readUntilReady())).containsExactly('1', '2', 'G', 'C', 'Z');

            // The session goes on: a read, a cacheable read, the same again from the cache.
            assertThat(rows(c.query("SELECT v FROM " + TABLE + " WHERE k = " + k).flush().readUntilReady()))
                    .containsExactly("pipelined");
            String after = count(c);
            assertThat(Integer.parseInt(after)).isEqualTo(Integer.parseInt(before) + 1);
            assertThat(count(c)).isEqualTo(after);
            assertThat(cachedCount()).as("the COPY invalidated the cached count").isEqualTo(after);
        }
    }

    @Test
    void earlySyncThenCopyDataAfterCopyInResponse() throws Exception {
        String before = cachedCount();
        try (WireClient c = connect()) {
            int k = keys.incrementAndGet();
            startCopyWithEarlySync(c);
            c.copyData(k + "\tstepwise\n").flush();
            c.sync().flush(); // ignored by PostgreSQL too: still in copy-in mode
            c.copyDone().sync().flush();
            assertThat(types(c.readUntilReady())).containsExactly('C', 'Z');

            assertThat(rows(c.query("SELECT v FROM " + TABLE + " WHERE k = " + k).flush().readUntilReady()))
                    .containsExactly("stepwise");
            assertThat(cachedCount()).isEqualTo(String.valueOf(Integer.parseInt(before) + 1));
        }
    }

    @Test
    void copyFailAfterAnEarlySync() throws Exception {
        String before = cachedCount();
        try (WireClient c = connect()) {
            startCopyWithEarlySync(c);
            c.copyData(keys.incrementAndGet() + "\tnever\n").copyFail("changed my mind").sync().flush();
            List<Msg> failed = c.readUntilReady();
            assertThat(types(failed)).containsExactly('E', 'Z');
            assertThat(failed.get(0).sqlState()).isEqualTo("57014");

            assertThat(count(c)).isEqualTo(before);
            assertThat(cachedCount()).isEqualTo(before);
        }
    }

    /**
     * A client often sends CopyDone before it reads that the copy already failed; PostgreSQL ignores that
     * CopyDone. It must not be taken for the end of the next COPY.
     */
    @Test
    void lateCopyDoneOfAFailedCopyDoesNotEndTheNextOne() throws Exception {
        String before = cachedCount();
        try (WireClient c = connect()) {
            c.query("COPY " + TABLE + " FROM STDIN").flush();
            assertThat(types(readUntil(c, 'G'))).containsExactly('G');
            c.copyData("not a number\tx\n").flush();
            assertThat(types(c.readUntilReady())).containsExactly('E', 'Z');
            c.copyDone().flush(); // late: PostgreSQL is out of copy mode and ignores it

            int k = keys.incrementAndGet();
            startCopyWithEarlySync(c);
            c.copyData(k + "\tafter\n").copyDone().sync().flush();
            assertThat(types(c.readUntilReady())).containsExactly('C', 'Z');

            assertThat(rows(c.query("SELECT v FROM " + TABLE + " WHERE k = " + k).flush().readUntilReady()))
                    .containsExactly("after");
            assertThat(cachedCount()).isEqualTo(String.valueOf(Integer.parseInt(before) + 1));
        }
    }

    /** One simple Query with two COPY FROM STDIN; a (pointless) Sync sent during the second is ignored. */
    @Test
    void twoCopiesInOneQuery() throws Exception {
        String before = cachedCount();
        try (WireClient c = connect()) {
            int k1 = keys.incrementAndGet();
            int k2 = keys.incrementAndGet();
            c.query("COPY " + TABLE + " FROM STDIN; COPY " + TABLE + " FROM STDIN").flush();
            assertThat(types(readUntil(c, 'G'))).containsExactly('G');
            c.copyData(k1 + "\tfirst\n").copyDone().flush();
            assertThat(types(readUntil(c, 'G'))).containsExactly('C', 'G');
            c.sync().copyData(k2 + "\tsecond\n").copyDone().flush();
            assertThat(types(c.readUntilReady())).containsExactly('C', 'Z');

            assertThat(rows(c.query("SELECT v FROM " + TABLE + " WHERE k IN (" + k1 + ", " + k2 + ") ORDER BY k")
                    .flush().readUntilReady())).containsExactly("first", "second");
            assertThat(cachedCount()).isEqualTo(String.valueOf(Integer.parseInt(before) + 2));
        }
    }

    @Test
    void copyWithoutEarlySyncStillWorks() throws Exception {
        String before = cachedCount();
        try (WireClient c = connect()) {
            int k = keys.incrementAndGet();
            c.parse("", "COPY " + TABLE + " FROM STDIN").bind("", "").execute("").flushMessage().flush();
            assertThat(types(readUntil(c, 'G'))).containsExactly('1', '2', 'G');
            c.copyData(k + "\tplain\n").copyDone().sync().flush();
            assertThat(types(c.readUntilReady())).containsExactly('C', 'Z');
            assertThat(cachedCount()).isEqualTo(String.valueOf(Integer.parseInt(before) + 1));
        }
    }
}
