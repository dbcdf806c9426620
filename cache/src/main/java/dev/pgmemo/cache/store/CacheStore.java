package dev.pgmemo.cache.store;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Where cached results and table version tokens live.
 *
 * <p>All keys are the logical names built by {@link Keys}; a store may place them under a namespace
 * prefix of its own. Futures complete on the store's own threads (Lettuce I/O threads, a timer
 * thread, or the caller's thread for {@link MemoryStore}): callers hop back to their event loop
 * themselves. A future that completes exceptionally means "the store could not answer": treat it as a
 * miss and go to PostgreSQL (see DESIGN.md, "When the store fails").
 */
public interface CacheStore extends AutoCloseable {

  /**
   * One round trip: the entry (or null) and the current version tokens for {@code tokenKeys}, in
   * order. A token that does not exist is created with SET NX to a fresh random value (never assumed
   * to be 0) and the value that won is returned, so the result never contains null tokens.
   */
  CompletableFuture<Lookup> lookup(byte[] entryKey, List<byte[]> tokenKeys);

  /** Current tokens only (get-or-create as in {@link #lookup}). */
  CompletableFuture<List<byte[]>> tokens(List<byte[]> tokenKeys);

  /** Stores an entry with a time to live (Redis {@code SET key value PX ttl}); {@code ttl} must be positive. */
  CompletableFuture<Void> put(byte[] entryKey, byte[] entry, Duration ttl);

  /** Replaces each token with a fresh random value, which invalidates every entry that recorded the old one. */
  CompletableFuture<Void> bump(List<byte[]> tokenKeys);

  /**
   * Invalidates every entry under this store's namespace (for {@code pgmemo invalidate --all}): bumps
   * the global epoch, which every entry records, and frees what it can.
   */
  CompletableFuture<Void> invalidateAll();

  /**
   * Registers {@code listener}, called (on any thread) whenever the store may have lost writes it had
   * acknowledged: a reconnection to Redis, which may be a restarted server or a replica promoted after a
   * failover that had not yet received the latest token bumps. Such a loss must be treated as a lost
   * invalidation. Stores that cannot lose acknowledged writes ignore it.
   */
  default void onPossibleLoss(Runnable listener) {
  }

  /** Where this store lives, without credentials: {@code redis://127.0.0.1:6379} or {@code memory}. */
  String describe();

  @Override
  void close();
}
