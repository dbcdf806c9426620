package dev.pgmemo.proxy.cache;

import dev.pgmemo.cache.analysis.Analysis;
import dev.pgmemo.cache.analysis.Fingerprint;
import dev.pgmemo.cache.analysis.QueryAnalyzer;
import dev.pgmemo.cache.policy.Admission;
import dev.pgmemo.cache.policy.CachePolicy;
import dev.pgmemo.cache.store.CacheStore;
import dev.pgmemo.cache.store.Keys;
import dev.pgmemo.cache.store.MemoryStore;
import dev.pgmemo.cache.store.RedisStore;
import dev.pgmemo.cache.store.ResilientStore;
import dev.pgmemo.config.CacheConfig;
import dev.pgmemo.config.PgmemoConfig;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.TreeSet;

/**
 * Everything the sessions of one pgmemo share for caching: the analyzer, the rules, the store, the catalog
 * memo and the metrics. Thread-safe; the policy is swapped atomically on reload.
 */
public final class CacheService implements AutoCloseable {
    private final QueryAnalyzer analyzer;
    private final ResilientStore store;
    private final Catalog catalog;
    private final CustomSettings customSettings = new CustomSettings();
    private final CacheMetrics metrics;
    private final Admission admission;
    private final long maxEntrySize;
    private volatile CachePolicy policy;

    /**
     * @param loops pgmemo's I/O event loops and their transport: the Redis store keeps one connection on each,
     *     so that a session's store calls complete on its own thread (they must outlive this service:
     *     {@link #close} first)
     */
    public CacheService(PgmemoConfig config, MeterRegistry registry, RedisStore.Loops loops) {
        this.analyzer = new QueryAnalyzer(config.cache().analysisCacheSize());
        CacheStore raw = config.cache().store() == null
                ? new MemoryStore(config.cache().memoryMaxSize())
                : new RedisStore(config.cache().store(), "", config.cache().storeTimeout(), loops,
                        config.cache().storeCa());
        this.store = new ResilientStore(raw, config.cache().storeTimeout(), ResilientStore.DEFAULT_FAILURE_THRESHOLD,
                ResilientStore.DEFAULT_COOLDOWN, loops.group());
        this.catalog = new Catalog(Duration.ofMinutes(5), analyzer, customSettings);
        this.admission = new Admission(costAdmission(config),
                config.cache().analysisCacheSize());
        this.metrics = new CacheMetrics(registry, store, admission);
        this.maxEntrySize = config.cache().maxEntrySize();
        this.policy = new CachePolicy(config.cache(), config.rules(), Fingerprint::of);
    }

    public QueryAnalyzer analyzer() {
        return analyzer;
    }

    public ResilientStore store() {
        return store;
    }

    public Catalog catalog() {
        return catalog;
    }

    /** Custom settings learned from policies and views; every context query reads them. */
    public CustomSettings customSettings() {
        return customSettings;
    }

    public CacheMetrics metrics() {
        return metrics;
    }

    /** Which query shapes are worth caching (configuration {@code cache.admission}). */
    public Admission admission() {
        return admission;
    }

    public CachePolicy policy() {
        return policy;
    }

    public long maxEntrySize() {
        return maxEntrySize;
    }

    /** Applies new rules and admission (reload); the store and its settings stay as they were started. */
    public void reload(PgmemoConfig config) {
        this.policy = new CachePolicy(config.cache(), config.rules(), Fingerprint::of);
        admission.setEnabled(costAdmission(config));
    }

    private static boolean costAdmission(PgmemoConfig config) {
        return config.cache().admission() == CacheConfig.Admission.COST;
    }

    /** True when the analysis leaves the statement a candidate (maybe after checking functions in pg_proc). */
    public static boolean candidate(Analysis a) {
        return a.kind() == Analysis.Kind.SELECT
                && (a.cacheable() || a.reason() == Analysis.BypassReason.UNVERIFIED_FUNCTION);
    }

    /** Version-token keys guarding a result: one per relation name, the database epoch and the global epoch. */
    public static List<byte[]> readTokenKeys(String database, Collection<String> relationNames) {
        List<byte[]> keys = new ArrayList<>(relationNames.size() + 2);
        for (String n : new TreeSet<>(relationNames)) {
            keys.add(tableToken(database, n));
        }
        keys.add(Keys.databaseEpoch(database));
        keys.add(Keys.globalEpoch());
        return keys;
    }

    /**
     * Tokens are per relation name within a database, whatever its schema: a write to {@code a.t} also
     * invalidates reads of {@code b.t}. That costs a little precision and can never miss a table because
     * search_path resolved a name differently.
     */
    public static byte[] tableToken(String database, String relationName) {
        return Keys.tableToken(database, "*", relationName);
    }

    /** Builds cache keys: a SHA-256 over length-prefixed parts, so no two different inputs share a key. */
    public static final class KeyBuilder {
        private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
            try {
                return MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        });
        private final MessageDigest md;

        /** @param settingsKey {@link SessionContext#customKey} of the custom settings the result depends on */
        public KeyBuilder(byte protocolMarker, SessionContext ctx, byte[] settingsKey) {
            md = SHA256.get();
            md.reset();
            md.update((byte) 3); // key format version (3: the context as its SHA-256)
            md.update(protocolMarker);
            bytes(ctx.keyBytes());
            bytes(settingsKey);
        }

        public KeyBuilder text(String s) {
            return bytes(s.getBytes(StandardCharsets.UTF_8));
        }

        public KeyBuilder bytes(byte[] b) {
            if (b == null) {
                intValue(-1);
            } else {
                intValue(b.length);
                md.update(b);
            }
            return this;
        }

        private final byte[] intBytes = new byte[4];

        public KeyBuilder intValue(int v) {
            intBytes[0] = (byte) (v >>> 24);
            intBytes[1] = (byte) (v >>> 16);
            intBytes[2] = (byte) (v >>> 8);
            intBytes[3] = (byte) v;
            md.update(intBytes, 0, 4);
            return this;
        }

        public byte[] build() {
            return Keys.entry(md.digest());
        }
    }

    @Override
    public void close() {
        store.close();
    }
}
