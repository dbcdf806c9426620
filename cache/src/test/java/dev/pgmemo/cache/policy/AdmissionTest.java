package dev.pgmemo.cache.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.function.IntPredicate;
import java.util.function.IntToLongFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class AdmissionTest {
    private static final long US = 1_000;
    private static final long TTL = 60_000_000_000L; // 60 s

    /** {@code n} lookups at time {@code now}, one hit in {@code hitEvery} (0: none), each taking {@code lookupNanos}. */
    private static void lookups(Admission.Shape s, int n, int hitEvery, long lookupNanos, long now) {
        for (int i = 1; i <= n; i++) {
            s.lookedUp(hitEvery > 0 && i % hitEvery == 0, lookupNanos, TTL, now);
        }
    }

    /**
     * {@code n} lookups evenly spread from time {@code from} to {@code to}. Lookup {@code i} (from 1) hits when
     * {@code hit} says so and takes {@code lookupNanos}; a miss's result takes {@code storeNanos} to store (0: not
     * stored).
     */
    private static void spread(Admission.Shape s, int n, IntPredicate hit, IntToLongFunction lookupNanos, long storeNanos,
            long from, long to) {
        for (int i = 1; i <= n; i++) {
            boolean h = hit.test(i);
            s.lookedUp(h, lookupNanos.applyAsLong(i), TTL, n == 1 ? to : from + (to - from) * (i - 1) / (n - 1));
            if (!h && storeNanos > 0) {
                s.stored(storeNanos);
            }
        }
    }

    /**
     * {@code n} lookups evenly spread over one TTL from time {@code t}: a window that spans one TTL, judged at its
     * last lookup if it was counted.
     */
    private static void window(Admission.Shape s, int n, IntPredicate hit, IntToLongFunction lookupNanos, long storeNanos, long t) {
        spread(s, n, hit, lookupNanos, storeNanos, t, t + TTL);
    }

    /** {@link #window} with one hit in {@code hitEvery} (0: none), every lookup taking {@code lookupNanos}, no stores. */
    private static void window(Admission.Shape s, int n, int hitEvery, long lookupNanos, long t) {
        window(s, n, i -> hitEvery > 0 && i % hitEvery == 0, i -> lookupNanos, 0, t);
    }

    /** When {@link #neverHitUntilBypassed} bypasses the shape. */
    private static final long BYPASSED_AT = 1 + 2 * TTL;

    /**
     * PostgreSQL answers in 100 us, lookups take 10 us (the shape could pay at its best) and never hit, for one
     * window before one TTL and one counted window after: the shape is bypassed (asserted) at
     * {@link #BYPASSED_AT}.
     */
    private static Admission.Shape neverHitUntilBypassed(Admission.Shape s) {
        s.answeredUpstream(100 * US);
        lookups(s, Admission.WINDOW, 0, 10 * US, 1);
        assertThat(s.bypassed()).isFalse();
        window(s, Admission.WINDOW, 0, 10 * US, 1 + TTL);
        assertThat(s.bypassed()).isTrue();
        return s;
    }

    private static int admitted(Admission.Shape s, int executions) {
        int n = 0;
        for (int i = 0; i < executions; i++) {
            if (s.admit()) {
                n++;
            }
        }
        return n;
    }

    @Test
    void aNewShapeIsCachedAndNotJudgedBeforeOneTtl() {
        // A TTL of an hour: windows span a minute, but the first is counted only from one hour on. Until then
        // half the lookups hit (heading for more: see aShapeHeadingForTooLowAHitRateIsBypassedInItsFirstTtl).
        long hour = 3_600_000_000_000L;
        Admission.Shape s = new Admission(true, 100).shape("select v from t where k = ?");
        s.answeredUpstream(100 * US);
        for (int i = 0; i < 100 * Admission.WINDOW; i++) {
            s.lookedUp(i % 2 == 0, 10 * US, hour, 1 + (hour - 2) * i / (100 * Admission.WINDOW)); // 70 ms apart
        }
        assertThat(s.bypassed()).isFalse();
        assertThat(admitted(s, 100)).isEqualTo(100);
        for (int i = 0; i <= 1000; i++) {
            s.lookedUp(false, 10 * US, hour, hour + 1 + Admission.MAX_WINDOW_NANOS * i / 1000);
        }
        assertThat(s.bypassed()).isTrue();
    }

    @Test
    void aVerdictWeighsAWindowThatSpansOneTtlNotTheFirstLookupsOfIt() {
        Admission.Shape s = new Admission(true, 100).shape("select v from t where k = ?");
        s.answeredUpstream(100 * US);
        lookups(s, Admission.WINDOW, 0, 10 * US, 1);
        // Counted from 1 + TTL: the store emptied, the first 1024 lookups miss; then one in two hits. Over the
        // TTL 37 % hits of 100 us save more than 2 x 10 us lookups: cached, where the first 512 alone would
        // not be.
        int n = 4 * Admission.WINDOW;
        window(s, n, i -> i > 2 * Admission.WINDOW && i % 2 == 0, i -> 10 * US, 0, 1 + TTL);
        assertThat(s.bypassed()).isFalse();
    }

    @Test
    void aShapeRunInBurstsIsJudgedOnItsBurstsNotOnTheColdStartOfOne() {
        // Lookups and stores of 20 us, PostgreSQL 150 us: caching pays from 42 % hits. Bursts of 70 s a few TTLs
        // apart, each starting with an empty store (600 misses), then 4 lookups in 5 hitting: 56 % over a
        // burst. A window that closed late in one burst must not be closed by the cold start of the next.
        Admission.Shape s = new Admission(true, 100).shape("select v from t where k = ?");
        s.answeredUpstream(150 * US);
        long t = 1;
        for (int burst = 0; burst < 5; burst++, t += 3 * TTL) {
            spread(s, 2000, i -> i > 600 && i % 5 != 0, i -> 20 * US, 20 * US, t, t + 70_000_000_000L);
            assertThat(s.bypassed()).as("after burst %d", burst).isFalse();
        }
    }

    @Test
    void aShortTtlMakesShortWindowsAndAPauseCountsAtMostASecond() {
        Admission.Shape s = new Admission(true, 100).shape("select v from t where k = ?");
        s.answeredUpstream(100 * US);
        long ttl = 3_000_000_000L; // 3 s
        for (int i = 0; i < Admission.WINDOW; i++) {
            s.lookedUp(false, 10 * US, ttl, 1);
        }
        // counted from 1 + ttl; a pause of a minute then adds one second to the window, not 60
        for (long t : new long[] {1 + ttl, 1 + ttl + Admission.MAX_WINDOW_NANOS}) {
            for (int i = 0; i < Admission.WINDOW; i++) {
                s.lookedUp(false, 10 * US, ttl, t);
            }
        }
        assertThat(s.bypassed()).isFalse();
        for (int i = 0; i <= 100; i++) { // two more seconds of traffic
            s.lookedUp(false, 10 * US, ttl, 1 + ttl + Admission.MAX_WINDOW_NANOS + 20_000_000L * i);
        }
        assertThat(s.bypassed()).isTrue();
    }

    @Test
    void aShapeThatRarelyHitsAndIsAsFastUpstreamIsBypassedExceptForProbes() {
        Admission.Shape s = new Admission(true, 100).shape("select v from t where k = ?");
        s.answeredUpstream(100 * US);
        lookups(s, Admission.WINDOW, 20, 10 * US, 1); // 5 % hits, lookups 10 us, PostgreSQL 100 us
        assertThat(s.bypassed()).isFalse();
        window(s, Admission.WINDOW, 20, 10 * US, 1 + TTL); // 5 us saved per query, 20 us spent
        assertThat(s.bypassed()).isTrue();
        assertThat(admitted(s, 16 * Admission.PROBE_EVERY)).isEqualTo(16);
    }

    @Test
    void aShapeThatCannotPayEvenAtItsBestHitRateIsBypassedAfterItsFirstTwoWindows() {
        // Lookups of 90 us against PostgreSQL's 100: hitting 80 % of the time would save 80 us per query
        // against 90 spent. Bypassed when its second window closes, long before one TTL.
        // Run 512 times a second (30 720 times a TTL: too rare for the traffic to set a rarer probing).
        Admission.Shape s = new Admission(true, 100).shape("select v from t where k = ?");
        s.answeredUpstream(100 * US);
        long second = 1_000_000_000L;
        int n = Admission.BEST_CASE_WINDOWS * Admission.WINDOW;
        spread(s, n - 1, i -> i % 20 == 0, i -> 90 * US, 0, 1, 1 + 2 * second - second / 512);
        assertThat(s.bypassed()).isFalse();
        s.lookedUp(false, 90 * US, TTL, 1 + 2 * second);
        assertThat(s.bypassed()).isTrue();
        assertThat(Admission.trafficProbeEvery(512 * 60)).isLessThan(Admission.MAX_PROBE_EVERY);
        // its costs, not its hit rate, condemn it: probed as rarely as a shape confirmed bypassed
        assertThat(admitted(s, 16 * Admission.MAX_PROBE_EVERY)).isEqualTo(16);
        // the same shape with 70 us lookups could pay at its best (80 us saved, 70 spent): judged after one TTL
        Admission.Shape t = new Admission(true, 100).shape("select v from t where k = ?");
        t.answeredUpstream(100 * US);
        lookups(t, 10 * Admission.WINDOW, 0, 70 * US, 1);
        assertThat(t.bypassed()).isFalse();
        assertThat(Admission.paysAtBest(70 * US, Double.NaN, 100 * US)).isTrue();
        assertThat(Admission.paysAtBest(80 * US, Double.NaN, 100 * US)).isTrue(); // 80 against 80
        assertThat(Admission.paysAtBest(81 * US, Double.NaN, 100 * US)).isFalse();
    }

    @Test
    void theProbeIntervalGrowsWithTheSquareRootOfTheTraffic() {
        // 20 000 executions a second, a 60 s TTL: one probe in about 390
        int n = Admission.trafficProbeEvery(20_000 * 60.0);
        assertThat(n).isBetween(380, 390);
        // at that interval a shape that would hit KEEP_HIT_RATE of the time when cached shows the aimed probe hits
        double h = Admission.KEEP_HIT_RATE;
        double p = h / (n * (1 - h) + h);
        assertThat(Admission.cachedHitRate(p, n)).isCloseTo(h, within(1e-9));
        assertThat(20_000 * 60.0 / n * p).isCloseTo(Admission.PROBE_HITS_AIMED, within(0.2));
        // four times the traffic, twice the interval
        assertThat(Admission.trafficProbeEvery(4 * 20_000 * 60.0)).isBetween(2 * n - 2, 2 * n + 2);
        // rare shapes keep the callers' floors; no traffic measured, or an absurd one, stays within bounds
        assertThat(Admission.trafficProbeEvery(10_000)).isLessThan(Admission.MAX_PROBE_EVERY);
        assertThat(Admission.trafficProbeEvery(0)).isEqualTo(1);
        assertThat(Admission.trafficProbeEvery(Double.NaN)).isEqualTo(1);
        assertThat(Admission.trafficProbeEvery(Double.POSITIVE_INFINITY)).isEqualTo(Admission.PROBE_EVERY_CEILING);
    }

    @Test
    void aShapeCondemnedByItsBestCaseUnderHeavyTrafficIsProbedAsTheTrafficAllows() {
        // pgbench -S through Redis: 20 000 primary-key lookups a second, lookups 90 us against PostgreSQL's
        // 100 us. Condemned after its first two windows (51 ms of traffic), probed about one in 385, not one in
        // 64: at one in 64 the probes were 40 % of what a bypassed query cost over a plain relay.
        Admission.Shape s = new Admission(true, 100).shape("select v from t where k = ?");
        s.answeredUpstream(100 * US);
        int n = Admission.BEST_CASE_WINDOWS * Admission.WINDOW;
        long every = 50 * US; // 20 000 a second
        for (int i = 0; i < n; i++) {
            assertThat(s.admit()).isTrue();
            s.lookedUp(false, 90 * US, TTL, 1 + i * every);
        }
        assertThat(s.bypassed()).isTrue();
        int expected = Admission.trafficProbeEvery(20_000 * 60.0);
        assertThat(admitted(s, 100 * expected)).isEqualTo(100);
        // the same traffic with a 1 s TTL: a window holds 20 000 executions, so one probe in 64 (the floor)
        Admission.Shape t = new Admission(true, 100).shape("select v from t where k = ?");
        t.answeredUpstream(100 * US);
        for (int i = 0; i < n; i++) {
            t.admit();
            t.lookedUp(false, 90 * US, 1_000_000_000L, 1 + i * every);
        }
        assertThat(t.bypassed()).isTrue();
        assertThat(admitted(t, 100 * Admission.MAX_PROBE_EVERY)).isEqualTo(100);
    }

    @Test
    void underHeavyTrafficTheIntervalFollowsTheTrafficAndAShapeThatWouldHitIsStillCachedAgain() {
        Admission.Shape s = neverHitUntilBypassed(new Admission(true, 100).shape("select v from t where k = ?"));
        // 20 000 executions a second from here. Bypassed on its hit rate: probed one in 16 for now
        long every = 50 * US;
        long t = BYPASSED_AT + 1;
        int probeEvery = Admission.PROBE_EVERY;
        assertThat(admitted(s, 16 * probeEvery)).isEqualTo(16);
        // the first TTL of probes (not counted), then one counted window of a TTL: still no hits
        t = executeFor(s, 2 * TTL + TTL / 10, every, t, i -> false);
        int byTraffic = Admission.trafficProbeEvery(20_000 * 60.0);
        assertThat(admitted(s, 10 * byTraffic)).isEqualTo(10); // confirmed: as rarely as the traffic allows
        // Now caching it would hit 85 % of the time: at one in 385, the probes hit 1 in 69 (0.85 / (385 x 0.15
        // + 0.85)). After a TTL of waiting, one window of them brings it back.
        double p = 0.85 / (byTraffic * 0.15 + 0.85);
        int[] probes = {0};
        t = executeFor(s, TTL, every, t, i -> ++probes[0] % Math.round(1 / p) == 0); // waiting: not counted
        assertThat(s.bypassed()).isTrue();
        t = executeFor(s, TTL + TTL / 10, every, t, i -> ++probes[0] % Math.round(1 / p) == 0);
        assertThat(s.bypassed()).isFalse();
        // Bypassed again, then the traffic falls to 100 executions a second: the interval falls back to the floors.
        Admission.Shape u = neverHitUntilBypassed(new Admission(true, 100).shape("select v from t where k = ?"));
        long slow = 10_000 * US;
        long v = executeFor(u, 2 * TTL + TTL / 10, slow, BYPASSED_AT + 1, i -> false); // one in 32 now
        assertThat(admitted(u, 32 * 10)).isEqualTo(10);
        executeFor(u, 3 * TTL, slow, v, i -> false);
        assertThat(admitted(u, 64 * 10)).isEqualTo(10);
    }

    /**
     * Executes the shape every {@code every} ns for {@code duration} from {@code t}, each admitted execution
     * looking up (a hit when {@code hit} says so, else stored); returns the time reached.
     */
    private static long executeFor(Admission.Shape s, long duration, long every, long t, IntPredicate hit) {
        long end = t + duration;
        int i = 0;
        for (; t < end; t += every) {
            if (s.admit()) {
                boolean h = hit.test(++i);
                s.lookedUp(h, 80 * US, TTL, t);
                if (!h) {
                    s.stored(80 * US);
                }
            }
        }
        return t;
    }

    @Test
    void theProjectedHitRateIsTheOneOfAFullStore() {
        // 1 000 keys asked for evenly, 5 000 lookups per TTL: 5 per key and TTL, 5 / 6 of lookups hit once the
        // store has filled. After 500 lookups, a window of 512 hits 1 - exp(-756 / 1000) of the time (53 %).
        int expected = (int) Math.round(512 * (1 - Math.exp(-756 / 1000.0)));
        assertThat(Admission.projectedHitRate(expected - Admission.PROJECTION_EXTRA_HITS, 512, 500, 5_000))
                .isCloseTo(5 / 6.0, within(0.01));
        // the same window later in the first TTL would have hit more: fewer keys, a higher rate ahead
        assertThat(Admission.projectedHitRate(expected, 512, 0, 5_000)).isGreaterThan(0.9);
        // no hits at all still count a few: never below what they give
        assertThat(Admission.projectedHitRate(0, 512, 10_000, 1_200_000)).isBetween(0.3, 0.5);
        // entries that never expire, or a window with (nearly) every lookup hitting: a full store hits always
        assertThat(Admission.projectedHitRate(0, 512, 10_000, Double.POSITIVE_INFINITY)).isEqualTo(1.0);
        assertThat(Admission.projectedHitRate(510, 512, 0, 100)).isEqualTo(1.0);
        assertThat(Admission.projectedHitRate(0, 0, 0, 100)).isNaN();
    }

    @Test
    void aShapeHeadingForTooLowAHitRateIsBypassedInItsFirstTtl() {
        // pgbench -S through Redis on 2 busy cores, as measured: 20 000 lookups a second of one of a million
        // keys at random, lookups 213 us, stores 360 us, PostgreSQL 700 us (all stretched by the load). At its
        // best (80 % hits) it would pay, but with a 60 s TTL it is heading for 55 % (1.2 lookups per key and
        // TTL), where 385 us saved do not clear twice the 213 + 0.45 x 360 spent. Bypassed within a few
        // seconds, not one TTL and a TTL of traffic later, and probed as its traffic allows.
        assertThat(Admission.paysAtBest(213 * US, 360 * US, 700 * US)).isTrue();
        assertThat(Admission.worthCaching(0.55, 213 * US, 360 * US, 700 * US, Admission.MARGIN)).isFalse();
        Admission.Shape s = new Admission(true, 100).shape("select abalance from pgbench_accounts where aid = ?");
        long t = randomKeys(s, 1_000_000, 20_000 * 5, 50 * US, 213 * US, 360 * US, 700 * US);
        assertThat(s.bypassed()).isTrue();
        assertThat(t).isLessThan(5_000_000_000L);
        int byTraffic = Admission.trafficProbeEvery(20_000 * 60.0);
        assertThat(admitted(s, 10 * byTraffic)).isEqualTo(10);
        // The same with ten thousand keys (120 lookups per key and TTL, heading for 99 %): kept, although its
        // first windows hit rarely.
        Admission.Shape k = new Admission(true, 100).shape("select abalance from pgbench_accounts where aid = ?");
        randomKeys(k, 10_000, 20_000 * 5, 50 * US, 213 * US, 360 * US, 700 * US);
        assertThat(k.bypassed()).isFalse();
        // A hundred thousand keys (12 per key and TTL, heading for 92 %): kept through its first TTL.
        Admission.Shape h = new Admission(true, 100).shape("select abalance from pgbench_accounts where aid = ?");
        randomKeys(h, 100_000, 20_000 * 59, 50 * US, 213 * US, 360 * US, 700 * US);
        assertThat(h.bypassed()).isFalse();
    }

    /**
     * {@code n} admitted executions {@code every} ns apart, each looking up one of {@code keys} keys at random
     * (seeded), a hit when an earlier one stored it (within the first TTL nothing expires); returns the time of
     * the last one.
     */
    private static long randomKeys(Admission.Shape s, int keys, int n, long every, long lookup, long store, long upstream) {
        java.util.BitSet stored = new java.util.BitSet(keys);
        java.util.Random random = new java.util.Random(42);
        long t = 1;
        for (int i = 0; i < n && !s.bypassed(); i++, t += every) {
            s.admit();
            int key = random.nextInt(keys);
            boolean hit = stored.get(key);
            if (!hit) {
                s.answeredUpstream(upstream);
                s.stored(store);
                stored.set(key);
            }
            s.lookedUp(hit, lookup, TTL, t);
        }
        return t;
    }

    @Test
    void aHotShapeIsNotCondemnedByItsBestCase() {
        // A hundred keys read over and over: after the first hundred misses nearly every lookup hits. Its times
        // alone (90 us lookups, PostgreSQL 100 us) would condemn it, but its windows already hit 80 % of the time
        // or more: such a shape is kept whatever the times.
        Admission.Shape s = new Admission(true, 100).shape("select v from t where k = ?");
        s.answeredUpstream(100 * US);
        spread(s, 4 * Admission.WINDOW, i -> i > 100, i -> 90 * US, 90 * US, 1, 2);
        assertThat(s.bypassed()).isFalse();
    }

    @Test
    void oneSlowWindowAtTheStartDoesNotCondemnAShape() {
        // A cold start: the first window's lookups take 1.4 ms (a fresh process compiling its code), the next
        // ones 20 us, against PostgreSQL's 1.5 ms. Then the same slow window again, once: not two in a row.
        Admission.Shape s = new Admission(true, 100).shape("select v from t where k = ?");
        s.answeredUpstream(1500 * US);
        lookups(s, Admission.WINDOW, 0, 1400 * US, 1);
        assertThat(Admission.paysAtBest(1400 * US, Double.NaN, 1500 * US)).isFalse();
        lookups(s, Admission.WINDOW, 0, 20 * US, 1);
        lookups(s, Admission.WINDOW, 0, 1400 * US, 1);
        lookups(s, Admission.WINDOW, 0, 20 * US, 1);
        assertThat(s.bypassed()).isFalse();
        lookups(s, 2 * Admission.WINDOW, 0, 1400 * US, 1); // two in a row
        assertThat(s.bypassed()).isTrue();
    }

    @Test
    void theBestCaseCountsTheStoresAndNeedsPostgresTime() {
        // 20 us lookups and 400 us stores against PostgreSQL's 100: 80 us saved at best, 20 + 0.2 x 400 = 100
        // spent
        Admission.Shape s = new Admission(true, 100).shape("select v from t where k = ?");
        s.answeredUpstream(100 * US);
        for (int i = 0; i < Admission.BEST_CASE_WINDOWS * Admission.WINDOW; i++) {
            s.stored(400 * US);
            s.lookedUp(false, 20 * US, TTL, 1);
        }
        assertThat(s.bypassed()).isTrue();
        // without any miss answered by PostgreSQL yet, nothing says what a hit saves: not judged
        Admission.Shape t = new Admission(true, 100).shape("select v from t where k = ?");
        lookups(t, 4 * Admission.WINDOW, 0, 500 * US, 1);
        assertThat(t.bypassed()).isFalse();
    }

    @Test
    void aShapeBroughtBackByItsProbesIsNotCondemnedByItsBestCaseAgain() {
        // Bypassed at its first windows (90 us lookups, PostgreSQL 100 us), but its probes hit half the time (one
        // probe in 64 storing: 98 % if every execution stored): cached again, and from then on judged on its
        // hit rate, which keeps it (the most a shape can hit and still be judged on its times is 80 %).
        Admission.Shape s = new Admission(true, 100).shape("select v from t where k = ?");
        s.answeredUpstream(100 * US);
        lookups(s, Admission.BEST_CASE_WINDOWS * Admission.WINDOW, 0, 90 * US, 1);
        assertThat(s.bypassed()).isTrue();
        window(s, Admission.PROBE_WINDOW, 0, 90 * US, 2); // the first TTL of probes: not counted
        window(s, Admission.PROBE_WINDOW, 2, 90 * US, 2 + TTL);
        assertThat(s.bypassed()).isFalse();
        lookups(s, 4 * Admission.WINDOW, 10, 90 * US, 3 + 2 * TTL); // within its first TTL cached again
        assertThat(s.bypassed()).isFalse();
        window(s, Admission.WINDOW, i -> i % 10 != 0, i -> 90 * US, 0, 3 + 3 * TTL); // 90 % hits
        assertThat(s.bypassed()).isFalse();
    }

    @Test
    void onlyLookupsMadeOneTtlIntoTheStateCount() {
        Admission.Shape s = new Admission(true, 100).shape("select v from t where k = ?");
        s.answeredUpstream(100 * US);
        // 500 hits before one TTL: counted, with the 512 misses after, 49 % of 100 us would outweigh 2 x 10 us
        lookups(s, 500, 1, 10 * US, 1);
        window(s, Admission.WINDOW, 0, 10 * US, 1 + TTL);
        assertThat(s.bypassed()).isTrue();
    }

    @Test
    void aHugeTtlDoesNotOverflow() {
        Admission.Shape s = new Admission(true, 100).shape("select 1");
        s.lookedUp(false, 80 * US, java.time.Duration.ofDays(200_000 * 365L));
        assertThat(s.bypassed()).isFalse();
    }

    @Test
    void anExpensiveShapeStaysCachedAtALowHitRate() {
        Admission.Shape s = new Admission(true, 100).shape("select sum(v) from t where g = ?");
        s.answeredUpstream(50_000 * US); // 50 ms in PostgreSQL
        lookups(s, Admission.WINDOW, 50, 100 * US, 1); // 2 % hits
        window(s, Admission.WINDOW, 50, 100 * US, 1 + TTL);
        assertThat(s.bypassed()).isFalse();
    }

    @Test
    void aShapeThatMostlyHitsStaysCachedEvenWhenPostgresIsFaster() {
        Admission.Shape s = new Admission(true, 100).shape("select 1");
        s.answeredUpstream(10 * US);
        lookups(s, Admission.WINDOW, 0, 100 * US, 1);
        window(s, Admission.WINDOW, 1, 100 * US, 1 + TTL); // every lookup hits
        assertThat(s.bypassed()).isFalse();
    }

    @Test
    void aBypassedShapeIsCachedAgainWhenItsProbesHitOftenEnoughOneTtlLater() {
        Admission.Shape s = neverHitUntilBypassed(new Admission(true, 100).shape("select v from t where k = ?"));
        int probes = Admission.PROBE_WINDOW;
        // For one TTL after the switch the probes still find what the cached phase stored (1 in 4 hits: 84 %
        // if every execution stored): not judged on them, though they span more than a TTL.
        spread(s, 4 * probes, i -> i % 4 == 0, i -> 80 * US, 0, BYPASSED_AT + 1, BYPASSED_AT + TTL + TTL / 2);
        assertThat(s.bypassed()).isTrue();
        // Counted from there, one probe in 8 hits: with every execution storing, about 70 % of lookups would
        // hit, and 70 % of 100 us saved clears 4 x 10 us lookups.
        window(s, probes, 8, 10 * US, BYPASSED_AT + TTL + TTL / 2);
        assertThat(s.bypassed()).isFalse();
        assertThat(admitted(s, 50)).isEqualTo(50);
    }

    @Test
    void aFewChanceProbeHitsDoNotBringAShapeBack() {
        Admission.Shape s = neverHitUntilBypassed(new Admission(true, 100).shape("select v from t where k = ?"));
        window(s, Admission.PROBE_WINDOW, 0, 80 * US, BYPASSED_AT + TTL); // one in 32 now
        window(s, Admission.PROBE_WINDOW, 0, 80 * US, BYPASSED_AT + 3 * TTL); // one in 64 now
        // 3 hits in 128 probes at one in 64 read as 60 % if everything were stored; with 10 us lookups that
        // clears REVIVE_MARGIN (60 us saved, 4 x 10 us spent), but it is too few hits to act on.
        assertThat(Admission.worthCaching(Admission.cachedHitRate(3.0 / 128, 64), 10 * US, Double.NaN, 100 * US,
                Admission.REVIVE_MARGIN)).isTrue();
        window(s, Admission.PROBE_WINDOW, 42, 10 * US, BYPASSED_AT + 5 * TTL);
        assertThat(s.bypassed()).isTrue();
        window(s, Admission.PROBE_WINDOW, Admission.PROBE_WINDOW / Admission.REVIVE_MIN_HITS, 10 * US, BYPASSED_AT + 6 * TTL);
        assertThat(s.bypassed()).isFalse();
    }

    @Test
    void chanceProbeHitsInAShortStretchDoNotBringAShapeBack() {
        Admission.Shape s = neverHitUntilBypassed(new Admission(true, 100).shape("select v from t where k = ?"));
        window(s, Admission.PROBE_WINDOW, 0, 80 * US, BYPASSED_AT + TTL); // one in 32 now
        window(s, Admission.PROBE_WINDOW, 0, 80 * US, BYPASSED_AT + 3 * TTL); // one in 64 now
        // A window of one TTL at one in 64: 64 x 128 probes with 1 % hitting (storing everything would hit 39 %
        // of the time: not worth it). Somewhere in it, 128 probes in a row hit 8 times (79 % if storing
        // everything, above the line): a verdict every 128 probes would revive the shape on them.
        assertThat(Admission.worthCaching(Admission.cachedHitRate(8.0 / 128, 64), 10 * US, Double.NaN, 100 * US,
                Admission.REVIVE_MARGIN)).isTrue();
        assertThat(Admission.worthCaching(Admission.cachedHitRate(0.01, 64), 10 * US, Double.NaN, 100 * US,
                Admission.REVIVE_MARGIN)).isFalse();
        long t = BYPASSED_AT + 5 * TTL;
        lookups(s, Admission.PROBE_WINDOW, 16, 10 * US, t);
        lookups(s, 62 * Admission.PROBE_WINDOW, 0, 10 * US, t);
        window(s, Admission.PROBE_WINDOW, 2, 10 * US, t); // 64 in this last stretch: 1 % of the window in all
        assertThat(s.bypassed()).isTrue();
    }

    @Test
    void aBypassedShapeWhoseProbesStillMissStaysBypassed() {
        Admission.Shape s = neverHitUntilBypassed(new Admission(true, 100).shape("select v from t where k = ?"));
        window(s, Admission.PROBE_WINDOW, Admission.PROBE_WINDOW, 80 * US, BYPASSED_AT + TTL); // one chance hit
        assertThat(s.bypassed()).isTrue();
    }

    @Test
    void withAdmissionOffThereAreNoShapesAndReloadTurnsItOn() {
        Admission admission = new Admission(false, 100);
        assertThat(admission.shape("select 1")).isNull();
        admission.setEnabled(true);
        Admission.Shape s = admission.shape("select 1");
        assertThat(s).isNotNull().isSameAs(admission.shape("select 1"));
        assertThat(admission.bypassedShapes()).isZero();
        neverHitUntilBypassed(s);
        assertThat(admission.bypassedShapes()).isEqualTo(1);
        admission.setEnabled(false); // reload to admission: all
        assertThat(admission.bypassedShapes()).isZero();
        assertThat(admission.shape("select 1")).isNull();
    }

    @Test
    void aBypassedShapeNearTheLineNeedsTheLargerMarginToBeCachedAgain() {
        Admission.Shape s = neverHitUntilBypassed(new Admission(true, 100).shape("select v from t where k = ?"));
        // PostgreSQL takes 100 us. 4 probe hits in 128 mean about 34 % hits if every execution stored: 34 us
        // saved per 9 us lookup is above MARGIN (a cached shape would stay cached) but below REVIVE_MARGIN.
        window(s, Admission.PROBE_WINDOW, Admission.PROBE_WINDOW / 4, 9 * US, BYPASSED_AT + TTL);
        assertThat(s.bypassed()).isTrue();
        assertThat(Admission.worthCaching(Admission.cachedHitRate(4.0 / 128, 16), 9 * US, Double.NaN, 100 * US, Admission.MARGIN)).isTrue();
        // That verdict halved the probes (one in 32 now): the next window waits one TTL. 5 in 128 then (about
        // 56 %, below KEEP_HIT_RATE): 56 us saved per 9 us lookup clears REVIVE_MARGIN.
        window(s, Admission.PROBE_WINDOW, Admission.PROBE_WINDOW / 5, 9 * US, BYPASSED_AT + 3 * TTL);
        assertThat(s.bypassed()).isFalse();
    }

    @Test
    void aCachedShapeIsJudgedWithTheSmallerMargin() {
        Admission.Shape s = new Admission(true, 100).shape("select v from t where k = ?");
        s.answeredUpstream(100 * US);
        // about 3 % hits (15 in 512) of 100 us with 1 us lookups: 2.9 us saved per lookup clears MARGIN (2 us),
        // not REVIVE_MARGIN (4 us)
        lookups(s, Admission.WINDOW, 33, 1 * US, 1);
        window(s, Admission.WINDOW, 33, 1 * US, 1 + TTL);
        assertThat(s.bypassed()).isFalse();
    }

    @Test
    void eachVerdictThatKeepsAShapeBypassedHalvesItsProbesDownToAFloor() {
        Admission.Shape s = neverHitUntilBypassed(new Admission(true, 100).shape("select v from t where k = ?"));
        assertThat(admitted(s, 16 * 64)).isEqualTo(64); // one in 16
        lookups(s, Admission.PROBE_WINDOW, 0, 80 * US, BYPASSED_AT + 1); // the first TTL of probes: no verdict
        assertThat(admitted(s, 16 * 64)).isEqualTo(64);
        window(s, Admission.PROBE_WINDOW, 0, 80 * US, BYPASSED_AT + TTL); // still not worth it
        assertThat(admitted(s, 32 * 64)).isEqualTo(64); // one in 32
        window(s, Admission.PROBE_WINDOW, 0, 80 * US, BYPASSED_AT + 3 * TTL); // each halving waits one TTL
        assertThat(admitted(s, 64 * 64)).isEqualTo(64); // one in 64
        window(s, Admission.PROBE_WINDOW, 0, 80 * US, BYPASSED_AT + 5 * TTL);
        assertThat(admitted(s, 64 * 64)).isEqualTo(64); // the floor
        // Probes start hitting (1 in 4 with one in 64 storing: about 96 % if every execution stored): cached
        // again (at the floor a window does not wait), and if it is bypassed later, it probes one in 16 again.
        window(s, Admission.PROBE_WINDOW, 4, 80 * US, BYPASSED_AT + 6 * TTL);
        assertThat(s.bypassed()).isFalse();
        assertThat(Admission.cachedHitRate(0.25, 64)).isBetween(0.95, 0.96);
        window(s, Admission.WINDOW, 0, 80 * US, BYPASSED_AT + 8 * TTL);
        assertThat(s.bypassed()).isTrue();
        assertThat(admitted(s, 16 * 64)).isEqualTo(64);
    }

    @Test
    void afterItsProbesAreHalvedAShapeIsNotJudgedOnEntriesStoredAtTheFormerRate() {
        Admission.Shape s = neverHitUntilBypassed(new Admission(true, 100).shape("select v from t where k = ?"));
        window(s, Admission.PROBE_WINDOW, 64, 80 * US, BYPASSED_AT + TTL); // 2 hits: stays bypassed, one in 32 now
        // Right after, the probes find what one in 16 stored (1 in 4 hits: read at one in 32 as 91 %): not
        // judged on it.
        lookups(s, 4 * Admission.PROBE_WINDOW, 4, 80 * US, BYPASSED_AT + 2 * TTL + 1);
        assertThat(s.bypassed()).isTrue();
        // One TTL later, what one in 32 stores alone: 1 hit in 128, still not worth it.
        window(s, Admission.PROBE_WINDOW, Admission.PROBE_WINDOW, 80 * US, BYPASSED_AT + 3 * TTL);
        assertThat(s.bypassed()).isTrue();
        assertThat(admitted(s, 64 * 64)).isEqualTo(64); // one in 64 now
    }

    @Test
    void aPrimaryKeyLookupThroughAStoreAsSlowAsPostgresIsBypassedEvenWhenMostLookupsHit() {
        // Measured through Redis under pgbench -S (8 clients, 2 cores): lookups about 110 us, stores 100 us,
        // PostgreSQL 140 us. At 70 % hits each query costs 110 + 0.3 x (140 + 100) = 182 us against 140 us
        // bypassed (a shape is kept whatever the times only from KEEP_HIT_RATE, 80 %, on; it was 50 %).
        assertThat(Admission.worthCaching(0.7, 110 * US, 100 * US, 140 * US, Admission.MARGIN)).isFalse();
        // It cannot pay at any hit rate it could be judged at (80 % would save 112 us against 130 spent):
        // bypassed as soon as its first window closes.
        assertThat(Admission.paysAtBest(110 * US, 100 * US, 140 * US)).isFalse();
        Admission.Shape s = new Admission(true, 100).shape("select abalance from pgbench_accounts where aid = ?");
        s.answeredUpstream(140 * US);
        for (int i = 1; i <= Admission.BEST_CASE_WINDOWS * Admission.WINDOW; i++) {
            s.lookedUp(false, 110 * US, TTL, 1);
            s.stored(100 * US);
        }
        assertThat(s.bypassed()).isTrue();
    }

    @Test
    void theStoresOfMissesCountAgainstCaching() {
        // 30 % hits of 100 us with 10 us lookups: 30 us saved per query, against 2 x 10 us without stores
        assertThat(Admission.worthCaching(0.3, 10 * US, Double.NaN, 100 * US, Admission.MARGIN)).isTrue();
        // and against 2 x (10 + 0.7 x 20) = 48 us with 20 us stores
        assertThat(Admission.worthCaching(0.3, 10 * US, 20 * US, 100 * US, Admission.MARGIN)).isFalse();
        Admission.Shape s = new Admission(true, 100).shape("select v from t where k = ?");
        s.answeredUpstream(100 * US);
        lookups(s, Admission.WINDOW, 0, 10 * US, 1);
        window(s, Admission.WINDOW, i -> i % 10 < 3, i -> 10 * US, 20 * US, 1 + TTL);
        assertThat(s.bypassed()).isTrue();
    }

    @Test
    void aStallDuringOneWindowDoesNotBypassAShapeThatPays() {
        // The in-process store: 1 us lookups and stores, 55 % hits of 150 us. A 150 ms garbage-collection pause
        // stretches the 8 lookups in flight (one per session): their mean would be 2.3 ms, above what the hits
        // save; their median is not.
        Admission.Shape s = new Admission(true, 100).shape("select abalance from pgbench_accounts where aid = ?");
        s.answeredUpstream(150 * US);
        lookups(s, Admission.WINDOW, 0, 1 * US, 1);
        window(s, Admission.WINDOW, i -> i % 20 < 11, i -> i <= 8 ? 150_000 * US : 1 * US, 1 * US, 1 + TTL);
        assertThat(s.bypassed()).isFalse();
    }

    @Test
    void timingsGiveTheMedianWithinAQuarterOctave() {
        Admission.Timings t = new Admission.Timings();
        assertThat(t.median()).isNaN();
        for (long v : new long[] {1, 2, 3, 1000, 1000, 1000, 1_000_000_000_000_000L}) {
            t.add(v);
        }
        assertThat(t.count()).isEqualTo(7);
        assertThat(t.median()).isBetween(1000 / 1.19, 1000 * 1.19);
        for (long v = 1; v < 1L << 40; v = v * 3 + 1) {
            assertThat(Admission.Timings.middle(Admission.Timings.bucket(v))).as("%d", v).isBetween(v / 1.19, v * 1.19);
        }
        t.clear();
        assertThat(t.count()).isZero();
        assertThat(t.median()).isNaN();
        t.add(-5); // a clock step: counted as the shortest time
        assertThat(t.median()).isEqualTo(1.0);
        // A window of more values than a count holds: counts are halved, the median stays.
        t.clear();
        for (int i = 0; i < 100_000; i++) {
            t.add(i % 3 == 0 ? 50_000 : 1000);
        }
        assertThat(t.count()).isGreaterThan(10_000);
        assertThat(t.median()).isBetween(1000 / 1.19, 1000 * 1.19);
    }

    @Test
    void probeHitRatesConvertToTheHitRateOfStoringEveryResult() {
        assertThat(Admission.cachedHitRate(0, 16)).isZero();
        assertThat(Admission.cachedHitRate(1, 16)).isEqualTo(1.0);
        // rare hits: about PROBE_EVERY times the probes' rate
        assertThat(Admission.cachedHitRate(0.001, 16)).isBetween(0.0155, 0.016);
        // a store filling up: 9 % of probes hitting means most lookups would hit, never more than all of them
        assertThat(Admission.cachedHitRate(0.09, 16)).isBetween(0.61, 0.62);
        // a key asked for r times per TTL hits r / (1 + r) of the time; its probes ask r / 16 times
        double r = 4;
        assertThat(Admission.cachedHitRate((r / 16) / (1 + r / 16), 16)).isCloseTo(r / (1 + r), within(1e-9));
    }

    @Test
    void verdict() {
        double m = Admission.MARGIN;
        double none = Double.NaN;
        assertThat(Admission.worthCaching(0.0, 100, none, none, m)).isTrue(); // nothing known of PostgreSQL's time
        assertThat(Admission.worthCaching(0.0, 100, none, 1e9, m)).isFalse(); // no hits: nothing to save
        assertThat(Admission.worthCaching(0.01, 100, none, 1e6, m)).isTrue(); // 1 % of 1 ms >= 2 x 100 ns
        assertThat(Admission.worthCaching(0.1, 100_000, none, 150_000, m)).isFalse();
        assertThat(Admission.worthCaching(0.8, 100_000, 100_000, 1, m)).isTrue(); // KEEP_HIT_RATE
        assertThat(Admission.worthCaching(0.79, 100_000, 100_000, 100_000, m)).isFalse();
        assertThat(Admission.worthCaching(0.03, 1_000, none, 100_000, m)).isTrue(); // 3 us saved per 1 us lookup
        assertThat(Admission.worthCaching(0.03, 1_000, none, 100_000, Admission.REVIVE_MARGIN)).isFalse();
        // the expensive read of bench/cache.sh through Redis: 100 ms saved by a hit, 0.2 ms per lookup and store
        assertThat(Admission.worthCaching(0.01, 200_000, 200_000, 100_000_000, m)).isTrue();
    }
}
