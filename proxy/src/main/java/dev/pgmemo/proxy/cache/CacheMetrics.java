package dev.pgmemo.proxy.cache;

import dev.pgmemo.cache.policy.Admission;
import dev.pgmemo.cache.store.ResilientStore;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/** Cache counters published on /metrics. */
public final class CacheMetrics {
    private final MeterRegistry registry;
    public final Counter hits;
    public final Counter misses;
    public final Counter stores;
    public final Counter invalidations;
    public final Counter storeErrors;
    public final Counter catalogLookups;
    public final Counter catalogRelationLookups;
    public final Timer hitLatency;
    private final ConcurrentMap<String, Counter> bypasses = new ConcurrentHashMap<>();
    private final ConcurrentMap<String, Counter> notStored = new ConcurrentHashMap<>();

    public CacheMetrics(MeterRegistry registry, ResilientStore store, Admission admission) {
        this.registry = registry;
        hits = Counter.builder("pgmemo_cache_hits").description("Queries answered from the cache").register(registry);
        misses = Counter.builder("pgmemo_cache_misses").description("Cacheable queries that went to PostgreSQL").register(registry);
        stores = Counter.builder("pgmemo_cache_stores").description("Results written to the cache").register(registry);
        invalidations = Counter.builder("pgmemo_cache_invalidations")
                .description("Version tokens replaced because of writes (one per table or epoch)").register(registry);
        storeErrors = Counter.builder("pgmemo_cache_store_errors")
                .description("Cache store operations that failed or timed out (the query went to PostgreSQL)").register(registry);
        catalogLookups = Counter.builder("pgmemo_catalog_lookups")
                .description("Catalog queries pgmemo sent to learn about relations, functions and session settings").register(registry);
        catalogRelationLookups = Counter.builder("pgmemo_catalog_relation_lookups")
                .description("Relation names asked about in those queries (each is remembered per database, user and "
                        + "search_path until DDL)").register(registry);
        hitLatency = Timer.builder("pgmemo_cache_hit_latency").description("Time from the request to the cached answer")
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofNanos(10_000))
                .maximumExpectedValue(Duration.ofSeconds(1)).register(registry);
        FunctionCounter.builder("pgmemo_store_timeouts", store, ResilientStore::timeouts)
                .description("Store calls that timed out").register(registry);
        FunctionCounter.builder("pgmemo_store_lost_invalidations", store, ResilientStore::lostInvalidations)
                .description("Invalidations that could not be written (answered with a global epoch bump)").register(registry);
        Gauge.builder("pgmemo_store_available", store, s -> s.isAvailable() ? 1 : 0)
                .description("1 when the cache store is usable, 0 while bypassed").register(registry);
        Gauge.builder("pgmemo_cache_bypassed_shapes", admission, Admission::bypassedShapes)
                .description("Query shapes sent straight to PostgreSQL because caching them cost more than it saved "
                        + "(cache.admission: cost)").register(registry);
    }

    /** Counts a cacheable-looking query that was not served from or stored to the cache, by reason. */
    public void bypass(String reason) {
        bypasses.computeIfAbsent(reason, r -> Counter.builder("pgmemo_cache_bypasses").tag("reason", r)
                .description("Queries not looked up in the cache, by reason").register(registry)).increment();
    }

    /** Counts a miss whose result was not stored, by reason (too_large, error, notice, ...). */
    public void notStored(String reason) {
        notStored.computeIfAbsent(reason, r -> Counter.builder("pgmemo_cache_not_stored").tag("reason", r)
                .description("Results of cache misses that were not stored, by reason").register(registry)).increment();
    }
}
