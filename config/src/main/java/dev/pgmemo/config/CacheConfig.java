package dev.pgmemo.config;

import java.time.Duration;
import java.util.Objects;

/**
 * How results are cached and where they are stored.
 *
 * @param store             null = the in-process store; else a Redis URL: {@code redis[s]://}, {@code redis[s]-sentinel://}
 *                          or {@code redis[s]-cluster://} (see StoreUrl)
 *                          (may hold a password, so {@link #toString()} masks it)
 * @param defaultTtl        ttl of queries no rule matches; zero = such queries are not cached
 * @param maxEntrySize      results whose wire bytes exceed this are not stored
 * @param memoryMaxSize     bound of the in-process store
 * @param storeTimeout      a store call slower than this counts as a miss (fail open)
 * @param analysisCacheSize how many query fingerprints' analysis verdicts are memoized
 * @param storeCa           CA certificates (PEM) that a TLS store's certificate must chain to; null = the JVM's
 *                          trust store
 */
public record CacheConfig(boolean enabled, String store, Duration defaultTtl, long maxEntrySize,
                          long memoryMaxSize, Duration storeTimeout, int analysisCacheSize, Admission admission,
                          java.nio.file.Path storeCa) {
    public static final Duration DEFAULT_TTL = Duration.ofSeconds(60);
    public static final long DEFAULT_MAX_ENTRY_SIZE = 1L << 20;
    public static final long DEFAULT_MEMORY_MAX_SIZE = 256L << 20;
    public static final Duration DEFAULT_STORE_TIMEOUT = Duration.ofMillis(200);
    public static final int DEFAULT_ANALYSIS_CACHE_SIZE = 10_000;

    public CacheConfig {
        Objects.requireNonNull(defaultTtl, "defaultTtl");
        Objects.requireNonNull(storeTimeout, "storeTimeout");
        Objects.requireNonNull(admission, "admission");
    }

    /**
     * Which cacheable queries go through the cache. {@code COST}: every query shape starts cached; a shape
     * whose lookups mostly miss while PostgreSQL answers it about as fast as the store does is then sent
     * straight to PostgreSQL (with a sample still going through the cache, so a change is noticed).
     * {@code ALL}: every cacheable query is looked up and stored, whatever it costs.
     */
    public enum Admission { COST, ALL }

    /** Enabled, in-process store, 60s default ttl, 1MiB entries, 256MiB memory, 200ms store timeout. */
    public static CacheConfig defaults() {
        return new CacheConfig(true, null, DEFAULT_TTL, DEFAULT_MAX_ENTRY_SIZE, DEFAULT_MEMORY_MAX_SIZE,
                DEFAULT_STORE_TIMEOUT, DEFAULT_ANALYSIS_CACHE_SIZE, Admission.COST, null);
    }

    /** True when results live in this process rather than Redis. */
    public boolean inProcessStore() {
        return store == null;
    }

    public CacheConfig withStore(String newStore) {
        return new CacheConfig(enabled, newStore, defaultTtl, maxEntrySize, memoryMaxSize, storeTimeout,
                analysisCacheSize, admission, storeCa);
    }

    public CacheConfig withDefaultTtl(Duration ttl) {
        return new CacheConfig(enabled, store, ttl, maxEntrySize, memoryMaxSize, storeTimeout, analysisCacheSize, admission, storeCa);
    }

    public CacheConfig withEnabled(boolean on) {
        return new CacheConfig(on, store, defaultTtl, maxEntrySize, memoryMaxSize, storeTimeout, analysisCacheSize, admission, storeCa);
    }

    @Override
    public String toString() {
        return "CacheConfig[enabled=" + enabled + ", store=" + StoreUrl.redact(store)
                + ", defaultTtl=" + defaultTtl + ", maxEntrySize=" + maxEntrySize
                + ", memoryMaxSize=" + memoryMaxSize + ", storeTimeout=" + storeTimeout
                + ", analysisCacheSize=" + analysisCacheSize + ", admission=" + admission + ", storeCa=" + storeCa + "]";
    }
}
