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
        // One TTL later, one probe in 8 hits: with every execution storing, about 70 % of lookups would hit.
        lookups(s, probes, 8, 80 * US, 2 + 2 * TTL);
        assertThat(s.bypassed()).isFalse();
        assertThat(admitted(s, 50)).isEqualTo(50);
    }

    @Test
    void aFewChanceProbeHitsDoNotBringAShapeBack() {
        Admission.Shape s = neverHitUntilBypassed(new Admission(true, 100).shape("select v from t where k = ?"));
        lookups(s, Admission.PROBE_WINDOW, 0, 80 * US, 2 + TTL); // the first TTL of probes: not judged
        lookups(s, Admission.PROBE_WINDOW, 0, 80 * US, 2 + 2 * TTL); // one in 32 now
        lookups(s, Admission.PROBE_WINDOW, 0, 80 * US, 2 + 2 * TTL); // one in 64 now
        // 3 hits in 128 probes at one in 64 read as 60 % if everything were stored: too few hits to act on.
        assertThat(Admission.cachedHitRate(3.0 / 128, 64)).isGreaterThan(Admission.KEEP_HIT_RATE);
        lookups(s, Admission.PROBE_WINDOW, 42, 80 * US, 2 + 2 * TTL);
        assertThat(s.bypassed()).isTrue();
        lookups(s, Admission.PROBE_WINDOW, Admission.PROBE_WINDOW / Admission.REVIVE_MIN_HITS, 80 * US, 2 + 2 * TTL);
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
        assertThat(Admission.worthCaching(Admission.cachedHitRate(2.0 / 128, 16), 9 * US, 100 * US, Admission.MARGIN)).isTrue();
        // 5 in 128 (about 39 %, below KEEP_HIT_RATE): 39 us saved per 9 us lookup clears REVIVE_MARGIN.
        lookups(s, Admission.PROBE_WINDOW, Admission.PROBE_WINDOW / 5, 9 * US, 2 + 2 * TTL);
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
        lookups(s, Admission.PROBE_WINDOW, 0, 80 * US, 2 + 2 * TTL);
        assertThat(admitted(s, 64 * 64)).isEqualTo(64); // one in 64
        lookups(s, Admission.PROBE_WINDOW, 0, 80 * US, 2 + 2 * TTL);
        assertThat(admitted(s, 64 * 64)).isEqualTo(64); // the floor
        // Probes start hitting (1 in 4 with one in 64 storing: about 96 % if every execution stored): cached
        // again, and if it is bypassed later, it probes one in 16 again.
        lookups(s, Admission.PROBE_WINDOW, 4, 80 * US, 2 + 2 * TTL);
        assertThat(s.bypassed()).isFalse();
        assertThat(Admission.cachedHitRate(0.25, 64)).isBetween(0.95, 0.96);
        lookups(s, Admission.WINDOW, 0, 80 * US, 3 + 3 * TTL);
        assertThat(s.bypassed()).isTrue();
        assertThat(admitted(s, 16 * 64)).isEqualTo(64);
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
        assertThat(Admission.worthCaching(0.0, 100, Double.NaN, m)).isTrue(); // nothing known of PostgreSQL's time
        assertThat(Admission.worthCaching(0.0, 100, 1e9, m)).isFalse(); // no hits: nothing to save
        assertThat(Admission.worthCaching(0.01, 100, 1e6, m)).isTrue(); // 1 % of 1 ms >= 2 x 100 ns
        assertThat(Admission.worthCaching(0.1, 100_000, 150_000, m)).isFalse();
        assertThat(Admission.worthCaching(0.5, 100_000, 1, m)).isTrue();
        assertThat(Admission.worthCaching(0.03, 1_000, 100_000, m)).isTrue(); // 3 us saved per 1 us lookup
        assertThat(Admission.worthCaching(0.03, 1_000, 100_000, Admission.REVIVE_MARGIN)).isFalse();
    }
}
