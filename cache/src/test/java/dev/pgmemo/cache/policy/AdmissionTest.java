package dev.pgmemo.cache.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

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
     * PostgreSQL answers in 100 us, lookups take 80 us and never hit, for one window before one TTL and one
     * after: the shape is bypassed (asserted) from time {@code 1 + TTL}.
     */
    private static Admission.Shape neverHitUntilBypassed(Admission.Shape s) {
        s.answeredUpstream(100 * US);
        lookups(s, Admission.WINDOW, 0, 80 * US, 1);
        lookups(s, Admission.WINDOW, 0, 80 * US, 1 + TTL);
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
        Admission.Shape s = new Admission(true, 100).shape("select v from t where k = ?");
        s.answeredUpstream(100 * US);
        lookups(s, 10 * Admission.WINDOW, 0, 100 * US, 1);
        lookups(s, Admission.WINDOW, 0, 100 * US, TTL - 1);
        assertThat(s.bypassed()).isFalse();
        assertThat(admitted(s, 100)).isEqualTo(100);
    }

    @Test
    void aShapeThatRarelyHitsAndIsAsFastUpstreamIsBypassedAfterOneTtlExceptForProbes() {
        Admission.Shape s = new Admission(true, 100).shape("select v from t where k = ?");
        s.answeredUpstream(100 * US);
        lookups(s, Admission.WINDOW, 20, 80 * US, 1); // 5 % hits, lookups 80 us, PostgreSQL 100 us
        assertThat(s.bypassed()).isFalse();
        lookups(s, Admission.WINDOW, 20, 80 * US, 1 + TTL);
        assertThat(s.bypassed()).isTrue();
        assertThat(admitted(s, 16 * Admission.PROBE_EVERY)).isEqualTo(16);
    }

    @Test
    void onlyLookupsMadeOneTtlIntoTheStateCount() {
        Admission.Shape s = new Admission(true, 100).shape("select v from t where k = ?");
        s.answeredUpstream(100 * US);
        lookups(s, 300, 1, 80 * US, 1); // hits before one TTL: not counted
        lookups(s, Admission.WINDOW, 0, 80 * US, 1 + TTL);
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
        lookups(s, Admission.WINDOW, 50, 100 * US, 1 + TTL);
        assertThat(s.bypassed()).isFalse();
    }

    @Test
    void aShapeThatMostlyHitsStaysCachedEvenWhenPostgresIsFaster() {
        Admission.Shape s = new Admission(true, 100).shape("select 1");
        s.answeredUpstream(10 * US);
        lookups(s, Admission.WINDOW, 0, 100 * US, 1);
        lookups(s, Admission.WINDOW, 1, 100 * US, 1 + TTL); // every lookup hits
        assertThat(s.bypassed()).isFalse();
    }

    @Test
    void aBypassedShapeIsCachedAgainWhenItsProbesHitOftenEnoughOneTtlLater() {
        Admission.Shape s = neverHitUntilBypassed(new Admission(true, 100).shape("select v from t where k = ?"));
        int probes = Admission.PROBE_WINDOW;
        // Right after the switch the probes still find what the cached phase stored: too early to judge.
        lookups(s, probes, 1, 80 * US, 2 + TTL);
        assertThat(s.bypassed()).isTrue();
        // One TTL later, one probe in 8 hits: with every execution storing, about 70 % of lookups would hit,
        // and 70 % of 100 us saved clears 4 x 10 us lookups.
        lookups(s, probes, 8, 10 * US, 2 + 2 * TTL);
        assertThat(s.bypassed()).isFalse();
        assertThat(admitted(s, 50)).isEqualTo(50);
    }

    @Test
    void aFewChanceProbeHitsDoNotBringAShapeBack() {
        Admission.Shape s = neverHitUntilBypassed(new Admission(true, 100).shape("select v from t where k = ?"));
        lookups(s, Admission.PROBE_WINDOW, 0, 80 * US, 2 + TTL); // the first TTL of probes: not judged
        lookups(s, Admission.PROBE_WINDOW, 0, 80 * US, 2 + 2 * TTL); // one in 32 now
        lookups(s, Admission.PROBE_WINDOW, 0, 80 * US, 3 + 3 * TTL); // one in 64 now
        // 3 hits in 128 probes at one in 64 read as 60 % if everything were stored; with 10 us lookups that
        // clears REVIVE_MARGIN (60 us saved, 4 x 10 us spent), but it is too few hits to act on.
        assertThat(Admission.worthCaching(Admission.cachedHitRate(3.0 / 128, 64), 10 * US, Double.NaN, 100 * US,
                Admission.REVIVE_MARGIN)).isTrue();
        lookups(s, Admission.PROBE_WINDOW, 42, 10 * US, 4 + 4 * TTL);
        assertThat(s.bypassed()).isTrue();
        lookups(s, Admission.PROBE_WINDOW, Admission.PROBE_WINDOW / Admission.REVIVE_MIN_HITS, 10 * US, 4 + 4 * TTL);
        assertThat(s.bypassed()).isFalse();
    }

    @Test
    void aBypassedShapeWhoseProbesStillMissStaysBypassed() {
        Admission.Shape s = neverHitUntilBypassed(new Admission(true, 100).shape("select v from t where k = ?"));
        lookups(s, Admission.PROBE_WINDOW, Admission.PROBE_WINDOW, 80 * US, 2 + 2 * TTL); // one chance hit
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
        lookups(s, Admission.PROBE_WINDOW, 0, 80 * US, 2 + TTL); // the first TTL of probes: not judged
        // PostgreSQL takes 100 us. 2 probe hits in 128 mean about 20 % hits if every execution stored: 20 us
        // saved per 9 us lookup is above MARGIN (a cached shape would stay cached) but below REVIVE_MARGIN.
        lookups(s, Admission.PROBE_WINDOW, Admission.PROBE_WINDOW / 2, 9 * US, 2 + 2 * TTL);
        assertThat(s.bypassed()).isTrue();
        assertThat(Admission.worthCaching(Admission.cachedHitRate(2.0 / 128, 16), 9 * US, Double.NaN, 100 * US, Admission.MARGIN)).isTrue();
        // That verdict halved the probes (one in 32 now): the next waits one TTL. 5 in 128 then (about 56 %,
        // below KEEP_HIT_RATE): 56 us saved per 9 us lookup clears REVIVE_MARGIN.
        lookups(s, Admission.PROBE_WINDOW, Admission.PROBE_WINDOW / 5, 9 * US, 2 + 3 * TTL);
        assertThat(s.bypassed()).isFalse();
    }

    @Test
    void aCachedShapeIsJudgedWithTheSmallerMargin() {
        Admission.Shape s = new Admission(true, 100).shape("select v from t where k = ?");
        s.answeredUpstream(100 * US);
        // about 3 % hits (15 in 512) of 100 us with 1 us lookups: 2.9 us saved per lookup clears MARGIN (2 us),
        // not REVIVE_MARGIN (4 us)
        lookups(s, Admission.WINDOW, 33, 1 * US, 1);
        lookups(s, Admission.WINDOW, 33, 1 * US, 1 + TTL);
        assertThat(s.bypassed()).isFalse();
    }

    @Test
    void eachVerdictThatKeepsAShapeBypassedHalvesItsProbesDownToAFloor() {
        Admission.Shape s = neverHitUntilBypassed(new Admission(true, 100).shape("select v from t where k = ?"));
        assertThat(admitted(s, 16 * 64)).isEqualTo(64); // one in 16
        lookups(s, Admission.PROBE_WINDOW, 0, 80 * US, 2 + TTL); // the first TTL of probes: no verdict
        assertThat(admitted(s, 16 * 64)).isEqualTo(64);
        lookups(s, Admission.PROBE_WINDOW, 0, 80 * US, 2 + 2 * TTL); // still not worth it
        assertThat(admitted(s, 32 * 64)).isEqualTo(64); // one in 32
        lookups(s, Admission.PROBE_WINDOW, 0, 80 * US, 3 + 3 * TTL); // each halving waits one TTL
        assertThat(admitted(s, 64 * 64)).isEqualTo(64); // one in 64
        lookups(s, Admission.PROBE_WINDOW, 0, 80 * US, 4 + 4 * TTL);
        assertThat(admitted(s, 64 * 64)).isEqualTo(64); // the floor
        // Probes start hitting (1 in 4 with one in 64 storing: about 96 % if every execution stored): cached
        // again (at the floor a verdict does not wait), and if it is bypassed later, it probes one in 16 again.
        lookups(s, Admission.PROBE_WINDOW, 4, 80 * US, 4 + 4 * TTL);
        assertThat(s.bypassed()).isFalse();
        assertThat(Admission.cachedHitRate(0.25, 64)).isBetween(0.95, 0.96);
        lookups(s, Admission.WINDOW, 0, 80 * US, 5 + 5 * TTL);
        assertThat(s.bypassed()).isTrue();
        assertThat(admitted(s, 16 * 64)).isEqualTo(64);
    }

    @Test
    void afterItsProbesAreHalvedAShapeIsNotJudgedOnEntriesStoredAtTheFormerRate() {
        Admission.Shape s = neverHitUntilBypassed(new Admission(true, 100).shape("select v from t where k = ?"));
        lookups(s, Admission.PROBE_WINDOW, 0, 80 * US, 2 + TTL); // the first TTL of probes: not judged
        lookups(s, Admission.PROBE_WINDOW, 64, 80 * US, 2 + 2 * TTL); // 2 hits: stays bypassed, one in 32 now
        // Right after, the probes find what one in 16 stored (1 in 4 hits: read at one in 32 as 91 %): not
        // judged on it.
        lookups(s, 4 * Admission.PROBE_WINDOW, 4, 80 * US, 3 + 2 * TTL);
        assertThat(s.bypassed()).isTrue();
        // One TTL later, what one in 32 stores alone: 1 hit in 128, still not worth it.
        lookups(s, Admission.PROBE_WINDOW, Admission.PROBE_WINDOW, 80 * US, 3 + 3 * TTL);
        assertThat(s.bypassed()).isTrue();
        assertThat(admitted(s, 64 * 64)).isEqualTo(64); // one in 64 now
    }

    @Test
    void aPrimaryKeyLookupThroughAStoreAsSlowAsPostgresIsBypassedEvenWhenMostLookupsHit() {
        // Measured through Redis under pgbench -S (8 clients, 2 cores): lookups about 110 us, stores 100 us,
        // PostgreSQL 140 us. At 70 % hits each query costs 110 + 0.3 x (140 + 100) = 182 us against 140 us
        // bypassed.
        Admission.Shape s = new Admission(true, 100).shape("select abalance from pgbench_accounts where aid = ?");
        s.answeredUpstream(140 * US);
        lookups(s, Admission.WINDOW, 0, 110 * US, 1);
        for (int i = 1; i <= Admission.WINDOW; i++) {
            boolean hit = i % 10 < 7; // 70 % hits
            s.lookedUp(hit, 110 * US, TTL, 1 + TTL);
            if (!hit) {
                s.stored(100 * US);
            }
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
        for (int i = 1; i <= Admission.WINDOW; i++) {
            boolean hit = i % 10 < 3;
            s.lookedUp(hit, 10 * US, TTL, 1 + TTL);
            if (!hit) {
                s.stored(20 * US);
            }
        }
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
        for (int i = 1; i <= Admission.WINDOW; i++) {
            boolean hit = i % 20 < 11;
            s.lookedUp(hit, i <= 8 ? 150_000 * US : 1 * US, TTL, 1 + TTL);
            if (!hit) {
                s.stored(i <= 8 ? 150_000 * US : 1 * US);
            }
        }
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
