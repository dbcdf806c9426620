package dev.pgmemo.cache.store;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A {@link MemoryStore} whose answers a test controls: fail, never answer, or hold lookups until the
 * test releases them; bumps can fail on their own (as with a Redis that refuses writes). For the
 * breaker's state machine only: the real failures are in {@code RedisStoreFaultTest}.
 */
final class FaultyStore implements CacheStore {

  enum Mode { OK, FAIL, HANG, HOLD_LOOKUPS }

  final MemoryStore data = new MemoryStore(16 * 1024 * 1024);
  final AtomicInteger calls = new AtomicInteger();
  final ConcurrentLinkedQueue<Runnable> heldLookups = new ConcurrentLinkedQueue<>();
  volatile Mode mode = Mode.OK;
  volatile boolean failBumps;

  @Override
  public CompletableFuture<Lookup> lookup(byte[] entryKey, List<byte[]> tokenKeys) {
    calls.incrementAndGet();
    if (mode == Mode.HOLD_LOOKUPS) {
      CompletableFuture<Lookup> held = new CompletableFuture<>();
      heldLookups.add(() -> data.lookup(entryKey, tokenKeys).thenAccept(held::complete));
      return held;
    }
    return answer(() -> data.lookup(entryKey, tokenKeys));
  }

  @Override
  public CompletableFuture<List<byte[]>> tokens(List<byte[]> tokenKeys) {
    calls.incrementAndGet();
    return answer(() -> data.tokens(tokenKeys));
  }

  @Override
  public CompletableFuture<Void> put(byte[] entryKey, byte[] entry, Duration ttl) {
    calls.incrementAndGet();
    return answer(() -> data.put(entryKey, entry, ttl));
  }

  @Override
  public CompletableFuture<Void> bump(List<byte[]> tokenKeys) {
    calls.incrementAndGet();
    if (failBumps) {
      return CompletableFuture.failedFuture(new IllegalStateException("OOM command not allowed"));
    }
    return answer(() -> data.bump(tokenKeys));
  }

  @Override
  public CompletableFuture<Void> invalidateAll() {
    calls.incrementAndGet();
    if (failBumps) {
      return CompletableFuture.failedFuture(new IllegalStateException("OOM command not allowed"));
    }
    return answer(data::invalidateAll);
  }

  void releaseHeldLookups() {
    for (Runnable r; (r = heldLookups.poll()) != null; ) {
      r.run();
    }
  }

  private <T> CompletableFuture<T> answer(java.util.function.Supplier<CompletableFuture<T>> real) {
    return switch (mode) {
      case OK, HOLD_LOOKUPS -> real.get();
      case FAIL -> CompletableFuture.failedFuture(new IllegalStateException("connection refused"));
      case HANG -> new CompletableFuture<>();
    };
  }

  @Override
  public String describe() {
    return "faulty";
  }

  @Override
  public void close() {
    data.close();
  }
}
