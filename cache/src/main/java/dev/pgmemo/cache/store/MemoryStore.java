package dev.pgmemo.cache.store;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The in-process store, used when no Redis is configured: entries in a Caffeine cache bounded by
 * bytes, each with its own time to live; version tokens in a map that is never evicted (an evicted
 * token would be recreated with a fresh value, which is safe, but it would also needlessly invalidate
 * live entries). Every operation completes before it returns.
 *
 * <p>Entry bytes returned by {@link #lookup} are the stored array itself (no copy on the hit path):
 * callers must treat them as read-only, as {@link CacheEntry#decode} does.
 */
public final class MemoryStore implements CacheStore {

  /** Rough per-entry bookkeeping cost (Caffeine node, key and value objects), counted in the bound. */
  static final int ENTRY_OVERHEAD = 96;

  private static final CompletableFuture<Void> DONE = CompletableFuture.completedFuture(null);

  private final long maxBytes;
  private final Cache<BytesKey, Stored> entries;
  private final ConcurrentHashMap<BytesKey, byte[]> tokens = new ConcurrentHashMap<>();

  public MemoryStore(long maxBytes) {
    if (maxBytes <= 0) {
      throw new IllegalArgumentException("maxBytes must be positive: " + maxBytes);
    }
    this.maxBytes = maxBytes;
    this.entries = Caffeine.newBuilder()
        .maximumWeight(maxBytes)
        .weigher((BytesKey k, Stored v) ->
            (int) Math.min(Integer.MAX_VALUE, (long) k.bytes.length + v.bytes.length + ENTRY_OVERHEAD))
        .expireAfter(new PerEntryTtl())
        // Maintenance (eviction, expiry) on the calling thread: handing it to the common pool costs a
        // thread wake-up per write on the hot path.
        .executor(Runnable::run)
        .build();
  }

  @Override
  public CompletableFuture<Lookup> lookup(byte[] entryKey, List<byte[]> tokenKeys) {
    Stored stored = entries.getIfPresent(new BytesKey(entryKey));
    // Tokens after the entry, as in Redis: a bump racing with this lookup leaves the entry stale.
    List<byte[]> current = currentTokens(tokenKeys);
    return CompletableFuture.completedFuture(
        new Lookup(stored == null ? null : stored.bytes, current));
  }

  @Override
  public CompletableFuture<List<byte[]>> tokens(List<byte[]> tokenKeys) {
    return CompletableFuture.completedFuture(currentTokens(tokenKeys));
  }

  @Override
  public CompletableFuture<Void> put(byte[] entryKey, byte[] entry, Duration ttl) {
    long ttlNanos = RedisStore.positiveTtl(ttl).toNanos();
    entries.put(new BytesKey(entryKey.clone()), new Stored(entry.clone(), ttlNanos));
    return DONE;
  }

  @Override
  public CompletableFuture<Void> bump(List<byte[]> tokenKeys) {
    for (byte[] key : tokenKeys) {
      tokens.put(new BytesKey(key.clone()), Tokens.fresh());
    }
    return DONE;
  }

  @Override
  public CompletableFuture<Void> invalidateAll() {
    tokens.replaceAll((k, v) -> Tokens.fresh());
    tokens.put(new BytesKey(Keys.globalEpoch()), Tokens.fresh());
    entries.invalidateAll();
    return DONE;
  }

  @Override
  public String describe() {
    return "memory";
  }

  /** The configured bound in bytes. */
  public long maxBytes() {
    return maxBytes;
  }

  /** Approximate bytes held by entries now (keys, values and bookkeeping). */
  public long weightedSize() {
    return entries.policy().eviction().map(e -> e.weightedSize().orElse(0)).orElse(0L);
  }

  /** Runs pending evictions and expirations now (tests, metrics). */
  public void cleanUp() {
    entries.cleanUp();
  }

  @Override
  public void close() {
    entries.invalidateAll();
  }

  private List<byte[]> currentTokens(List<byte[]> tokenKeys) {
    List<byte[]> out = new ArrayList<>(tokenKeys.size());
    for (byte[] key : tokenKeys) {
      BytesKey k = new BytesKey(key);
      byte[] token = tokens.get(k);
      if (token == null) {
        // computeIfAbsent is the in-process SET NX: one value wins and every caller sees it.
        token = tokens.computeIfAbsent(new BytesKey(key.clone()), x -> Tokens.fresh());
      }
      out.add(token.clone());
    }
    return out;
  }

  private record Stored(byte[] bytes, long ttlNanos) {}

  private static final class PerEntryTtl implements Expiry<BytesKey, Stored> {
    @Override
    public long expireAfterCreate(BytesKey key, Stored value, long currentTime) {
      return value.ttlNanos;
    }

    @Override
    public long expireAfterUpdate(BytesKey key, Stored value, long currentTime, long currentDuration) {
      return value.ttlNanos;
    }

    @Override
    public long expireAfterRead(BytesKey key, Stored value, long currentTime, long currentDuration) {
      return currentDuration;
    }
  }

  /** A byte array compared by content, as a map key. */
  static final class BytesKey {
    final byte[] bytes;
    private final int hash;

    BytesKey(byte[] bytes) {
      this.bytes = bytes;
      this.hash = Arrays.hashCode(bytes);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof BytesKey other && hash == other.hash && Arrays.equals(bytes, other.bytes);
    }

    @Override
    public int hashCode() {
      return hash;
    }
  }
}
