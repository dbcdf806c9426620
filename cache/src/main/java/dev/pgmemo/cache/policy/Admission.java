package dev.pgmemo.cache.policy;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.pgmemo.cache.analysis.Fingerprint;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether caching a query shape pays for itself. Every lookup costs a store round trip and every miss a copy
 * of the result and a store write; a hit saves a trip to PostgreSQL. For a shape whose results are rarely
 * asked for twice (a primary-key lookup over a million rows) and that PostgreSQL answers about as fast as the
 * store does, the cache only adds work: such a shape is sent straight to PostgreSQL, which is always correct
 * (the cache is an optimisation, never the source of truth).
 *
 * <p>Per shape (the normalized fingerprint), while cached: the hit rate, the median lookup time, the median
 * time a miss's result took to store and the mean time PostgreSQL took for the misses of a window decide, but
 * only once the shape has been in its current state for one TTL (its entries' time to live), and only on
 * lookups made after that: before, the store has not had the time to fill, and a hit rate measured then says
 * little about the hit rate to come. A verdict weighs a window of at least {@link #WINDOW} lookups spanning at
 * least one TTL of traffic (at most {@link #MAX_WINDOW_NANOS}; a pause between two lookups counts up to
 * {@link #MAX_GAP_NANOS}). The shape stays
 * cached when {@code hit rate x upstream time >= MARGIN x (lookup time + miss rate x store time)}: what the
 * hits save outweighs what the lookups and the stores cost. An expensive query therefore stays cached at low
 * hit rates (a 50 ms query with 0.5 ms lookups and stores needs 4 % hits), and with the in-process store
 * (lookups and stores of a microsecond or two) nearly every shape that hits at all does; through Redis, a
 * query that PostgreSQL answers about as fast as Redis answers a lookup (a primary-key lookup) cannot pay
 * whatever its hit rate, since each miss costs a lookup and a store on top of PostgreSQL's time. A shape
 * whose lookups hit at least {@link #KEEP_HIT_RATE} of the time stays cached anyway: it takes most of its
 * load off PostgreSQL, and what it costs is bounded. Shapes are per normalized text, across databases and
 * users. A shape found not worth it is bypassed, except one execution in {@link #PROBE_EVERY}, which still
 * goes through the cache (each verdict that keeps the shape bypassed halves that, down to one in
 * {@link #MAX_PROBE_EVERY}, and a shape run often enough is probed more rarely still, one execution in a number
 * that grows with the square root of its traffic, see {@link #trafficProbeEvery}: a probe costs a lookup and a
 * store write, which on a shape run thousands of times a second adds up); one TTL later (when what the
 * cached phase stored has expired) the same test runs again on a window of at least {@link #PROBE_WINDOW}
 * probes, again spanning a TTL, with their hit rate converted to the rate every execution storing would give
 * ({@link #cachedHitRate}: only the probes' results are stored now) and with the larger
 * {@link #REVIVE_MARGIN}, and a shape that became clearly worth it is cached again.
 * After the probes are halved, the next window also waits one TTL: until the entries stored at the former
 * rate expire, the probes find more of them than their own rate explains, and the conversion would overstate
 * the hit rate. Every shape starts cached, so the second run of a new query is a hit, and a shape is bypassed
 * on its hit rate at the earliest one TTL and one window (a TTL of traffic, a minute at most) after it was
 * first seen. Before that, its costs alone can condemn it: a shape that would not pay even hitting
 * {@link #KEEP_HIT_RATE} of the time ({@link #paysAtBest}), or would not pay at the hit rate its windows so far
 * are heading for once the store has filled ({@link #projectedHitRate}), in {@link #BEST_CASE_WINDOWS} windows
 * of {@link #WINDOW} lookups in a row is bypassed then.
 *
 * <p>Thread-safe: each shape's numbers are guarded by the shape. The set of shapes is bounded; a shape
 * dropped from it starts over, cached.
 */
public final class Admission {
    private static final Logger log = LoggerFactory.getLogger(Admission.class);
    /** The fewest lookups of a cached shape between two verdicts. */
    public static final int WINDOW = 512;
    /**
     * The span of traffic a window needs at most (it needs one TTL when that is shorter): a verdict weighs the
     * traffic of one TTL (or of this long), not the last few hundred lookups, which at thousands a second span
     * milliseconds: a run of chance probe hits, or the cold start of one burst, would otherwise decide on its
     * own, and a verdict taken every few milliseconds is sure to meet them.
     */
    public static final long MAX_WINDOW_NANOS = 60_000_000_000L;
    /**
     * The most that the time between two lookups adds to a window's span: a window spans a TTL of traffic, not
     * of idleness, so that a shape run in bursts is judged on its bursts, cold starts included (after a pause
     * longer than a TTL the store has emptied, and the first lookups of the next burst miss) instead of on the
     * first few hundred lookups of one burst.
     */
    public static final long MAX_GAP_NANOS = 1_000_000_000L;
    /** While a shape is bypassed, one execution in this many still goes through the cache. */
    public static final int PROBE_EVERY = 16;
    /**
     * The fewest probes the halving gives a bypassed shape: one execution in this many. A shape run often enough
     * probes more rarely still, see {@link #trafficProbeEvery}.
     */
    public static final int MAX_PROBE_EVERY = 64;
    /**
     * The fewest probes of a bypassed shape between two verdicts: enough that one chance hit (converted by
     * {@link #cachedHitRate}, judged with {@link #REVIVE_MARGIN}) does not bring the shape back.
     */
    public static final int PROBE_WINDOW = 128;
    /** The consecutive windows of its first TTL that must not pay even at their best for a shape to be bypassed. */
    public static final int BEST_CASE_WINDOWS = 2;
    /** How much more the hits must save than the lookups cost. */
    public static final double MARGIN = 2.0;
    /**
     * The margin a bypassed shape must clear to be cached again: twice {@link #MARGIN}, so that a shape near
     * the line (a hit rate estimated from a few probes) does not flip between the two states at every verdict.
     */
    public static final double REVIVE_MARGIN = 2 * MARGIN;
    /**
     * A shape hitting at least this often stays cached whatever the times: it spares PostgreSQL four queries in
     * five, and when the store is no faster than PostgreSQL the shape loses little (a lookup per query and a
     * store per miss, against PostgreSQL's time for one in five).
     */
    public static final double KEEP_HIT_RATE = 0.8;
    /**
     * The probe hits a bypassed shape needs in one window to be cached again. Converted to the rate of storing
     * everything, one or two chance hits among the probes of a shape probed one time in 64 already read as
     * half the lookups hitting; a few more make that estimate worth acting on.
     */
    public static final int REVIVE_MIN_HITS = 4;
    /**
     * The probe hits a window of a bypassed shape should hold if caching it would hit {@link #KEEP_HIT_RATE} of
     * the time: what sizes the probe interval of a shape run often ({@link #trafficProbeEvery}). Eight times
     * {@link #REVIVE_MIN_HITS}, so that such a shape is seen and its hit rate estimated within a fifth or so.
     */
    public static final int PROBE_HITS_AIMED = 8 * REVIVE_MIN_HITS;
    /**
     * The hits added to each window's count when projecting the hit rate a shape is heading for
     * ({@link #projectedHitRate}): about the most a window that saw none could be expected to see.
     */
    public static final int PROJECTION_EXTRA_HITS = 3;
    /** The rarest probing, whatever the traffic: one execution in this many. */
    public static final int PROBE_EVERY_CEILING = 4096;

    private final Cache<String, Shape> shapes;
    private volatile boolean enabled;

    /**
     * @param enabled false: every shape is always admitted (configuration {@code admission: all})
     * @param maxShapes how many shapes are remembered; like the analyzer's memo, a shape weighs one plus
     *     one per KiB of fingerprint, so a few huge statements cannot pin megabytes
     */
    public Admission(boolean enabled, int maxShapes) {
        this.enabled = enabled;
        this.shapes = Caffeine.newBuilder()
                .maximumWeight(maxShapes)
                .weigher((String fingerprint, Shape shape) -> Fingerprint.memoWeight(fingerprint))
                .executor(Runnable::run) // eviction work on the caller: no background threads
                .build();
    }

    /** Applies {@code admission:} from a reloaded configuration; the shapes keep what they learned. */
    public void setEnabled(boolean enabled) {
        this.enabled = enabled;
    }

    public boolean enabled() {
        return enabled;
    }

    /** The shape of a fingerprint, created cached on first use; null when admission control is off. */
    public Shape shape(String fingerprint) {
        return enabled ? shapes.get(fingerprint, Shape::new) : null;
    }

    /** How many known shapes are bypassed right now (approximate; for the metrics). */
    public long bypassedShapes() {
        return enabled ? shapes.asMap().values().stream().filter(Shape::bypassed).count() : 0;
    }

    /** What is known of one query shape. */
    public static final class Shape {
        /** The shape's normalized text (the key it is remembered under), for the log. */
        private final String fingerprint;
        private boolean bypassed;
        /** When the current state (cached or bypassed) began, once {@code started} (at the first lookup). */
        private long since;
        private boolean started;
        /** The counts were reset at the first lookup one TTL into the current state: only those count. */
        private boolean counting;
        /** A verdict was taken (before the first, the shape's best case is weighed, see judgeBestCase). */
        private boolean judged;
        /** Consecutive windows of the first TTL that would not pay even at their best (see judgeBestCase). */
        private int windowsNotPayingAtBest;
        private int executions;
        /** Lookups since the current state began (what the store has been filled from, see projectedHitRate). */
        private long lookupsInState;
        /** The executions of this window, admitted or not (what the probe interval follows). */
        private long windowExecutions;
        /** When the last lookup was answered. */
        private long lastLookup;
        /** The span of this window's lookups, each pause between two of them counted up to MAX_GAP_NANOS. */
        private long activeNanos;
        /** PostgreSQL's times for this window's misses. */
        private double upstreamSum;
        private int upstreamCount;
        private int lookups;
        private int hits;
        /** This window's lookup times (their median is the lookup's cost). */
        private final Timings lookupTimes = new Timings();
        /** This window's store times. */
        private final Timings storeTimes = new Timings();
        /** While bypassed, one execution in this many goes through the cache. */
        private int probeEvery = PROBE_EVERY;
        /**
         * Exponential moving average of PostgreSQL's time for this shape's misses (weight 1/8 each), used by a
         * window that saw none; NaN until one is seen.
         */
        private double upstreamNanos = Double.NaN;
        /**
         * The median time from copying a miss's result to the store's acknowledgement of it, in the last window
         * that stored any; NaN until one is stored (a shape whose results are never stored costs no stores).
         */
        private double storeNanos = Double.NaN;

        Shape(String fingerprint) {
            this.fingerprint = fingerprint;
        }

        /** Whether this execution goes through the cache (lookup, and a store after a miss). */
        public synchronized boolean admit() {
            windowExecutions++;
            if (!bypassed) {
                return true;
            }
            if (++executions >= probeEvery) {
                executions = 0;
                return true;
            }
            return false;
        }

        /**
         * A lookup of this shape answered after {@code nanos}: a hit (a valid entry) or not; {@code ttl} is the
         * time to live its result has (or would have) in the store.
         */
        public void lookedUp(boolean hit, long nanos, java.time.Duration ttl) {
            long ttlNanos = ttl.getSeconds() >= Long.MAX_VALUE / 1_000_000_000L ? Long.MAX_VALUE : ttl.toNanos();
            lookedUp(hit, nanos, ttlNanos, System.nanoTime());
        }

        synchronized void lookedUp(boolean hit, long nanos, long ttlNanos, long now) {
            if (!started) {
                started = true;
                since = now;
                lastLookup = now;
            }
            activeNanos += Math.min(MAX_GAP_NANOS, Math.max(0, now - lastLookup));
            lastLookup = now;
            if (!counting && now - since >= ttlNanos) {
                // One TTL into this state: what was counted before (cold-start misses while cached, probes
                // finding what the cached phase stored while bypassed) says little about what comes.
                counting = true;
                resetWindow();
            }
            lookups++;
            lookupsInState++;
            if (hit) {
                hits++;
            }
            lookupTimes.add(nanos);
            if (lookups >= (bypassed ? PROBE_WINDOW : WINDOW)) {
                if (!counting) {
                    if (!bypassed && !judged) {
                        judgeBestCase(ttlNanos, now);
                    }
                    resetWindow(); // too early to judge on the hit rate
                } else if (activeNanos >= Math.min(ttlNanos, MAX_WINDOW_NANOS)) {
                    decide(ttlNanos, now);
                }
            }
        }

        /**
         * PostgreSQL answered a miss of this shape after {@code nanos} (from sending it to its ReadyForQuery),
         * whether or not its result could be stored.
         */
        public synchronized void answeredUpstream(long nanos) {
            upstreamNanos = average(upstreamNanos, nanos);
            upstreamSum += Math.max(0, nanos);
            upstreamCount++;
        }

        /** A miss's result of this shape was stored (or failed to be) {@code nanos} after its copy began. */
        public synchronized void stored(long nanos) {
            storeTimes.add(nanos);
        }

        private static double average(double average, long nanos) {
            double n = Math.max(0, nanos);
            return Double.isNaN(average) ? n : average * 0.875 + n * 0.125;
        }

        /**
         * Before the first verdict, each window of the shape's first TTL is weighed at its best case: whether,
         * hitting {@link #KEEP_HIT_RATE} of the time (the most a shape can hit and still be judged on its times),
         * it would cost more than it saves, with no margin ({@link #paysAtBest}). Its hit rate is not known yet
         * (the store is filling; a window that already hits that often passes), but its costs are: a shape that
         * PostgreSQL answers about as fast as the store answers a lookup and takes a store (a primary-key lookup
         * through Redis under load) is bypassed now, not one TTL and a TTL of traffic from now, all the while
         * costing more than it saves.
         * The same goes for a shape that could pay at its best but not at the hit rate it is heading for: the
         * window's hit rate, early in the first TTL, projected to the store filled ({@link #projectedHitRate}),
         * judged with the usual {@link #MARGIN}. That is a primary-key lookup over a million rows on a busy host,
         * where PostgreSQL's times stretch more than the store's (measured through Redis with {@code pgbench -S}
         * on 2 cores: lookups 213 us, stores 360 us, PostgreSQL 700 us, and caching it cost a third of the
         * throughput): at its best it would pay, but with a 60 s TTL it heads for about 55 %.
         * It takes {@link #BEST_CASE_WINDOWS} such windows in a row, so that a cold start (a fresh process still
         * compiling its code, a new store connection) or a stall does not condemn a shape on its own. Such a
         * shape is probed one execution in {@link #MAX_PROBE_EVERY} from the start; one that would have hit
         * that often anyway, or whose costs change, is cached again by its probes (more rarely still when the
         * shape runs often, see {@link #trafficProbeEvery}).
         */
        private void judgeBestCase(long ttlNanos, long now) {
            double upstream = upstreamTime();
            double lookup = lookupTimes.median();
            double store = storeTimes.count() > 0 ? storeTimes.median() : storeNanos;
            double projected = projectedHitRate(hits, lookups, lookupsInState - lookups, perSpan(lookups, ttlNanos));
            if (log.isTraceEnabled()) {
                log.trace("query shape {}: first-TTL window of {} lookups ({} hits, heading for {}) over {} ms:"
                        + " lookup {} us, store {} us, PostgreSQL {} us", fingerprint, lookups, hits,
                        String.format("%.3f", projected), activeNanos / 1_000_000, micros(lookup), micros(store),
                        micros(upstream));
            }
            boolean atBest = paysAtBest(lookup, store, upstream);
            if (Double.isNaN(upstream) || (double) hits / lookups >= KEEP_HIT_RATE
                    || (atBest && worthCaching(projected, lookup, store, upstream, MARGIN))) {
                windowsNotPayingAtBest = 0;
            } else if (++windowsNotPayingAtBest >= BEST_CASE_WINDOWS) {
                double executions = executionsPerWindow(ttlNanos);
                if (!atBest) {
                    switchState(true, "bypassed (not worth it even at its best hit rate)", KEEP_HIT_RATE, lookup, store,
                            upstream, now);
                    // What would bring it back is a change of its costs, not of its hit rate: probe as rarely as a
                    // shape confirmed bypassed (each probe waits for a lookup the query does not need).
                    probeEvery = Math.max(MAX_PROBE_EVERY, trafficProbeEvery(executions));
                } else {
                    switchState(true, "bypassed (not worth it at the hit rate it is heading for)", projected, lookup,
                            store, upstream, now);
                    probeEvery = Math.max(PROBE_EVERY, trafficProbeEvery(executions));
                }
            }
        }

        private void switchState(boolean bypass, String why, double hitRate, double lookup, double store, double upstream, long now) {
            if (log.isDebugEnabled()) {
                log.debug("query shape {}: hit rate {}, lookup {} us, store {} us, PostgreSQL {} us: {}", fingerprint,
                        String.format("%.3f", hitRate), micros(lookup), micros(store), micros(upstream), why);
            }
            judged = true;
            bypassed = bypass;
            lookupsInState = 0;
            since = now;
            counting = false;
            probeEvery = PROBE_EVERY;
            executions = 0;
        }

        /** What a hit saves: the mean of PostgreSQL's times for this window's misses, else the moving average. */
        private double upstreamTime() {
            return upstreamCount > 0 ? upstreamSum / upstreamCount : upstreamNanos;
        }

        /**
         * The executions one window spanning a TTL (at most {@link #MAX_WINDOW_NANOS}) holds at this window's
         * rate (each execution of a cached shape looks up, and the tests record lookups alone).
         */
        private double executionsPerWindow(long ttlNanos) {
            return perSpan(Math.max(windowExecutions, lookups), Math.min(ttlNanos, MAX_WINDOW_NANOS));
        }

        /** {@code count} events of this window scaled to {@code spanNanos}; the most there is when its span is nil. */
        private double perSpan(long count, long spanNanos) {
            return activeNanos <= 0 ? Double.POSITIVE_INFINITY : count * ((double) spanNanos / activeNanos);
        }

        private void resetWindow() {
            windowExecutions = 0;
            activeNanos = 0;
            upstreamSum = 0;
            upstreamCount = 0;
            lookups = 0;
            hits = 0;
            lookupTimes.clear();
            storeTimes.clear();
        }

        public synchronized boolean bypassed() {
            return bypassed;
        }

        private void decide(long ttlNanos, long now) {
            double hitRate = (double) hits / lookups;
            if (bypassed) {
                hitRate = cachedHitRate(hitRate, probeEvery);
            }
            // The costs are medians: a garbage-collection pause (or any stall of this process) stretches the
            // lookups in flight during it by as much, and would decide a window on its own. What a hit saves is
            // the mean of PostgreSQL's times (a query's cost may vary with its parameters, and the mean is what
            // the hits save); a stall stretches it too, which errs towards caching.
            double lookup = lookupTimes.median();
            if (storeTimes.count() > 0) {
                storeNanos = storeTimes.median();
            }
            double upstream = upstreamTime();
            boolean bypass = !worthCaching(hitRate, lookup, storeNanos, upstream, bypassed ? REVIVE_MARGIN : MARGIN)
                    || (bypassed && hits < REVIVE_MIN_HITS);
            int byTraffic = trafficProbeEvery(executionsPerWindow(ttlNanos));
            if (bypass != bypassed) {
                switchState(bypass, bypass ? "bypassed" : "cached again", hitRate, lookup, storeNanos, upstream, now);
                if (bypass) {
                    probeEvery = Math.max(PROBE_EVERY, byTraffic);
                }
            } else if (bypassed) {
                // Confirmed: probe less (halved, or as the traffic allows). The entries stored at the former rate
                // live one more TTL, and probes finding them would look like a rising hit rate: the next verdict
                // waits for them to expire. Probing more often (the traffic fell) needs no wait: the probes then
                // find fewer entries than their rate explains, which errs towards staying bypassed.
                int next = Math.max(Math.min(MAX_PROBE_EVERY, probeEvery * 2), byTraffic);
                if (next > probeEvery) {
                    since = now;
                    counting = false;
                }
                probeEvery = next;
            }
            judged = true;
            resetWindow();
            executions = 0;
        }
    }

    /**
     * Durations in buckets a quarter of an octave wide (a value is placed within 19 % of itself), for a median
     * that a few extreme values do not move. Counts are shorts, halved together when one would overflow. The
     * buckets are allocated at the first value.
     */
    static final class Timings {
        private static final int BUCKETS = 4 * 40; // up to 2^40 ns (18 minutes); longer counts in the last
        private short[] counts;
        private int count;

        void add(long nanos) {
            if (counts == null) {
                counts = new short[BUCKETS];
            }
            int i = bucket(nanos);
            if (counts[i] == Short.MAX_VALUE) {
                // A long window: halve every count, which keeps the median where it was (within a bucket).
                count = 0;
                for (int j = 0; j < BUCKETS; j++) {
                    counts[j] = (short) (counts[j] / 2);
                    count += counts[j];
                }
            }
            counts[i]++;
            count++;
        }

        int count() {
            return count;
        }

        void clear() {
            if (count > 0) {
                java.util.Arrays.fill(counts, (short) 0);
                count = 0;
            }
        }

        /** The middle of the bucket holding the median value; NaN when empty. */
        double median() {
            if (count == 0) {
                return Double.NaN;
            }
            int seen = 0;
            for (int i = 0; i < BUCKETS; i++) {
                seen += counts[i];
                if (2 * seen >= count) {
                    return middle(i);
                }
            }
            throw new IllegalStateException("unreachable");
        }

        static int bucket(long nanos) {
            long v = Math.max(1, nanos);
            int octave = 63 - Long.numberOfLeadingZeros(v);
            int quarter = octave >= 2 ? (int) (v >>> (octave - 2)) & 3 : 0;
            return Math.min(BUCKETS - 1, 4 * octave + quarter);
        }

        static double middle(int bucket) {
            int octave = bucket / 4;
            if (octave < 2) {
                return 1L << octave;
            }
            long width = 1L << (octave - 2);
            return (4 + bucket % 4) * width + width / 2.0;
        }
    }

    /**
     * The hit rate a bypassed shape would have if every execution stored its result, from the hit rate of its
     * probes, which store one result in {@code every}. An entry is written by a miss and lives one TTL;
     * reads do not extend it. A key asked for {@code r} times per TTL (at random) therefore has one miss, then
     * about {@code r} hits while its entry lives, then the next miss: a hit rate of {@code r / (1 + r)}. The
     * probes ask for it {@code r / every} times per TTL, so from their hit rate {@code p},
     * {@code r = every x p / (1 - p)}, and storing every result would give
     * {@code every x p / (1 + (every - 1) x p)}. For rare hits that is about {@code every x p}; unlike that
     * product it stays below 1 as the store fills (with one probe in 16, probes hitting 9 % of the time mean
     * about 61 %, not 144 %).
     */
    static double cachedHitRate(double probeHitRate, int every) {
        double p = Math.min(1.0, Math.max(0.0, probeHitRate));
        return every * p / (1 + (every - 1) * p);
    }

    /**
     * The hit rate a cached shape is heading for, from one window of its first TTL, before any of its entries
     * expired: {@code hits} of {@code lookups}, after {@code lookupsBefore} lookups in this state, at a rate of
     * {@code lookupsPerTtl} lookups per TTL (infinite when entries never expire). If each lookup asks for one
     * of {@code K} keys at random, the {@code m}-th lookup finds its key stored with probability
     * {@code 1 - exp(-m / K)}; the window's hit rate, taken at its middle lookup, gives {@code K}; a key asked
     * for {@code r = lookupsPerTtl / K} times per TTL then hits {@code r / (1 + r)} of the time once the store
     * has filled (see {@link #cachedHitRate}). Keys asked for unevenly hit early more than even ones do, and
     * entries left by an earlier state or another pgmemo add hits: both raise the projection, which errs
     * towards caching; so do the {@link #PROJECTION_EXTRA_HITS} extra hits counted in the window, which keep a
     * window of a few chance hits (or none) from projecting a rate far below the one the shape is heading for.
     */
    static double projectedHitRate(int hits, int lookups, long lookupsBefore, double lookupsPerTtl) {
        if (lookups <= 0) {
            return Double.NaN;
        }
        double h = (hits + PROJECTION_EXTRA_HITS) / (double) lookups;
        if (h >= 1) {
            return 1;
        }
        double perKey = -Math.log1p(-h) / (lookupsBefore + lookups / 2.0); // 1 / K
        double r = lookupsPerTtl * perKey;
        return r < Double.POSITIVE_INFINITY ? r / (1 + r) : 1; // NaN rate: no projection, the best
    }

    /**
     * The probe interval for a bypassed shape that runs {@code executionsPerWindow} times in a window (a TTL of
     * its traffic, at most {@link #MAX_WINDOW_NANOS}): the rarest probing at which a shape that would hit
     * {@link #KEEP_HIT_RATE} of the time if cached still shows about {@link #PROBE_HITS_AIMED} probe hits in a
     * window, and the fewer probes the better (each costs a lookup the query does not need and a store: on a
     * shape run 20 000 times a second, probing one execution in 64 was 40 % of what a bypassed query cost
     * pgmemo over a plain relay). With {@code n} executions per probe and {@code E} per window, a shape hitting
     * {@code h} when cached has its probes hit {@code p = h / (n (1 - h) + h)} of the time (the inverse of
     * {@link #cachedHitRate}), {@code E / n} probes a window, so about {@code E h / (n (n (1 - h) + h))} probe
     * hits: they fall with the square of the interval, and the interval that keeps them at the aim grows with
     * the square root of the traffic (a query run 20 000 times a second with a 60 s TTL: one in about 390).
     * At least 1 (a shape too rare for any aim is probed at every execution; callers take the larger of this
     * and their own floor), at most {@link #PROBE_EVERY_CEILING}.
     */
    static int trafficProbeEvery(double executionsPerWindow) {
        if (!(executionsPerWindow > 0)) {
            return 1;
        }
        double h = KEEP_HIT_RATE;
        double c = executionsPerWindow * h / PROBE_HITS_AIMED; // n^2 (1 - h) + n h = c
        double n = (-h + Math.sqrt(h * h + 4 * (1 - h) * c)) / (2 * (1 - h));
        return n >= PROBE_EVERY_CEILING ? PROBE_EVERY_CEILING : Math.max(1, (int) n);
    }

    /**
     * The verdict, on its own for the tests: NaN upstream time (never measured) keeps the shape cached; NaN
     * store time (nothing stored) counts as none.
     * {@code margin}: {@link #MARGIN} to stay cached, {@link #REVIVE_MARGIN} to be cached again.
     */
    static boolean worthCaching(double hitRate, double lookupNanos, double storeNanos, double upstreamNanos, double margin) {
        double store = Double.isNaN(storeNanos) ? 0 : storeNanos;
        return hitRate >= KEEP_HIT_RATE || Double.isNaN(upstreamNanos)
                || hitRate * upstreamNanos >= margin * (lookupNanos + (1 - hitRate) * store);
    }

    /**
     * Whether caching could pay at its best, before its hit rate is known: hitting {@link #KEEP_HIT_RATE} of
     * the time (any more and it is kept whatever its times), with no margin, the hits would save at least what
     * the lookups and the stores of the misses cost. NaN store time (nothing stored yet) counts as none.
     */
    static boolean paysAtBest(double lookupNanos, double storeNanos, double upstreamNanos) {
        double store = Double.isNaN(storeNanos) ? 0 : storeNanos;
        return KEEP_HIT_RATE * upstreamNanos >= lookupNanos + (1 - KEEP_HIT_RATE) * store;
    }

    private static String micros(double nanos) {
        return Double.isNaN(nanos) ? "-" : String.format("%.1f", nanos / 1000);
    }
}
