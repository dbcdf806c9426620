package dev.pgmemo.cache.store;

import io.netty.util.concurrent.EventExecutor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes any {@link CacheStore} fail open and fail fast, and keeps a lost invalidation from ever
 * letting a stale entry be served (DESIGN.md, "When the store fails").
 *
 * <ul>
 *   <li>Every operation gets the timeout; a late answer is a failure.
 *   <li>A circuit breaker opens after {@code failureThreshold} consecutive failures or timeouts.
 *       While open, operations fail at once (no per-query stall); after {@code cooldown} one operation
 *       is let through as a probe, and its success closes the breaker.
 *   <li>A {@code bump} or {@code invalidateAll} that fails, times out or is refused by the open
 *       breaker is a lost invalidation: the store turns <em>dirty</em>. While dirty, lookups, token
 *       reads and puts fail, and the next of them starts a bump of {@link Keys#globalEpoch()}, which
 *       every entry records. Only when that bump succeeded does the store serve again, so an entry
 *       that missed its invalidation can no longer match.
 *   <li>The same happens when the store reports that it may have lost acknowledged writes
 *       ({@link CacheStore#onPossibleLoss}): a bump lost with them must not let old entries match again.
 * </ul>
 *
 * <p>Failures complete futures with {@link CacheUnavailableException}; every kind of failure is
 * logged at WARN at most once per 10 seconds. Counters are exposed for metrics.
 */
public final class ResilientStore implements CacheStore {

  /** The circuit breaker's state. */
  public enum BreakerState { CLOSED, OPEN, HALF_OPEN }

  public static final int DEFAULT_FAILURE_THRESHOLD = 3;
  public static final Duration DEFAULT_COOLDOWN = Duration.ofSeconds(1);

  private static final Logger log = LoggerFactory.getLogger(ResilientStore.class);
  private static final long WARN_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(10);

  private enum Permit { NORMAL, PROBE }

  private final CacheStore delegate;
  private final long timeoutNanos;
  private final int failureThreshold;
  private final long cooldownNanos;
  private final String description;
  private final io.netty.util.HashedWheelTimer timer;
  /** Event loops whose calls get their deadline on the calling loop itself (see {@link #guarded}). */
  private final EventExecutor[] loops;

  private final CacheUnavailableException breakerOpen;
  private final CacheUnavailableException dirty;
  private final CacheUnavailableException closedStore;

  private volatile BreakerState state = BreakerState.CLOSED;
  private volatile long openUntilNanos;
  private final AtomicInteger consecutiveFailures = new AtomicInteger();
  private final AtomicBoolean probeInFlight = new AtomicBoolean();

  private final AtomicLong lostInvalidations = new AtomicLong();
  private final AtomicLong healedUpTo = new AtomicLong();
  private final AtomicBoolean healing = new AtomicBoolean();
  private volatile boolean closed;

  private final LongAdder errors = new LongAdder();
  private final LongAdder timeouts = new LongAdder();
  private final LongAdder rejected = new LongAdder();
  private final LongAdder breakerOpenings = new LongAdder();
  private final LongAdder globalEpochBumps = new LongAdder();

  private final RateLimitedLog timeoutWarning = warning();
  private final RateLimitedLog errorWarning = warning();
  private final RateLimitedLog openWarning = warning();
  private final RateLimitedLog lostWarning = warning();
  private final RateLimitedLog dirtyWarning = warning();

  /** Threshold 3 consecutive failures, cooldown 1 s. */
  public ResilientStore(CacheStore delegate, Duration timeout) {
    this(delegate, timeout, DEFAULT_FAILURE_THRESHOLD, DEFAULT_COOLDOWN);
  }

  public ResilientStore(CacheStore delegate, Duration timeout, int failureThreshold, Duration cooldown) {
    this(delegate, timeout, failureThreshold, cooldown, null);
  }

  /**
   * @param loops event loops that call this store (pgmemo's I/O loops), or null: a call made on one of them has
   *     its deadline scheduled on that loop, which wakes up for it only if it expires, instead of on the timer
   *     thread, which ticks every 10 ms once started (in a virtual machine each of those wake-ups was 0.4 to 0.8
   *     us of CPU per query under {@code pgbench -S}); a call made elsewhere is made on the first of them (with
   *     none, calls use the timer thread)
   */
  public ResilientStore(CacheStore delegate, Duration timeout, int failureThreshold, Duration cooldown,
      Iterable<EventExecutor> loops) {
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("timeout must be positive: " + timeout);
    }
    if (failureThreshold < 1) {
      throw new IllegalArgumentException("failureThreshold must be at least 1: " + failureThreshold);
    }
    this.delegate = delegate;
    List<EventExecutor> executors = new ArrayList<>();
    if (loops != null) {
      loops.forEach(executors::add);
    }
    this.loops = executors.toArray(EventExecutor[]::new);
    this.timeoutNanos = timeout.toNanos();
    this.failureThreshold = failureThreshold;
    this.cooldownNanos = cooldown.toNanos();
    this.description = delegate.describe();
    // For calls made off the event loops: a hashed wheel, where scheduling a deadline is a queue insert, with
    // no wake-up of a timer thread per store call (a ScheduledThreadPoolExecutor signals its thread on every
    // schedule and cancel). Its thread starts at the first deadline it is given.
    this.timer = new io.netty.util.HashedWheelTimer(r -> {
      Thread t = new Thread(r, "pgmemo-cache-timeout");
      t.setDaemon(true);
      return t;
    }, 10, TimeUnit.MILLISECONDS, 512);
    this.breakerOpen = new CacheUnavailableException(
        "cache store " + description + " unavailable: circuit breaker open");
    this.dirty = new CacheUnavailableException("cache store " + description
        + " not trusted: an invalidation was lost and the global epoch is not yet bumped");
    this.closedStore = new CacheUnavailableException("cache store closed");
    CacheUnavailableException reconnected = new CacheUnavailableException("cache store " + description
        + " reconnected: writes it had acknowledged (token bumps) may be lost");
    delegate.onPossibleLoss(() -> lost(reconnected));
  }

  @Override
  public CompletableFuture<Lookup> lookup(byte[] entryKey, List<byte[]> tokenKeys) {
    CacheUnavailableException refused = refuseRead();
    if (refused != null) {
      return CompletableFuture.failedFuture(refused);
    }
    return guarded(() -> delegate.lookup(entryKey, tokenKeys), true, false);
  }

  @Override
  public CompletableFuture<List<byte[]>> tokens(List<byte[]> tokenKeys) {
    CacheUnavailableException refused = refuseRead();
    if (refused != null) {
      return CompletableFuture.failedFuture(refused);
    }
    return guarded(() -> delegate.tokens(tokenKeys), true, false);
  }

  /** Refused while dirty too: the entry's tokens predate the epoch bump, so it could never match. */
  @Override
  public CompletableFuture<Void> put(byte[] entryKey, byte[] entry, Duration ttl) {
    RedisStore.positiveTtl(ttl); // a caller's mistake is thrown, not counted as a store failure
    CacheUnavailableException refused = refuseRead();
    if (refused != null) {
      return CompletableFuture.failedFuture(refused);
    }
    return guarded(() -> delegate.put(entryKey, entry, ttl), false, false);
  }

  @Override
  public CompletableFuture<Void> bump(List<byte[]> tokenKeys) {
    if (closed) {
      return CompletableFuture.failedFuture(closedStore);
    }
    return guarded(() -> delegate.bump(tokenKeys), false, true);
  }

  @Override
  public CompletableFuture<Void> invalidateAll() {
    if (closed) {
      return CompletableFuture.failedFuture(closedStore);
    }
    return guarded(delegate::invalidateAll, false, true);
  }

  @Override
  public String describe() {
    return description;
  }

  @Override
  public void close() {
    closed = true;
    timer.stop();
    delegate.close();
  }

  // --- state for metrics and health ---

  public BreakerState breakerState() {
    return state;
  }

  /** True while a lost invalidation has not yet been covered by a global epoch bump. */
  public boolean isDirty() {
    return lostInvalidations.get() > healedUpTo.get();
  }

  /** True when lookups would currently be attempted (breaker closed, not dirty, not closed). */
  public boolean isAvailable() {
    return !closed && state == BreakerState.CLOSED && !isDirty();
  }

  /** Operations that the store answered with an error. */
  public long errors() {
    return errors.sum();
  }

  /** Operations that got no answer within the timeout. */
  public long timeouts() {
    return timeouts.sum();
  }

  /** Operations failed at once, without asking the store: breaker open, or dirty. */
  public long rejected() {
    return rejected.sum();
  }

  /** Bumps and invalidate-alls that could not be written. */
  public long lostInvalidations() {
    return lostInvalidations.get();
  }

  public long breakerOpenings() {
    return breakerOpenings.sum();
  }

  /** Global epoch bumps made to cover lost invalidations. */
  public long globalEpochBumps() {
    return globalEpochBumps.sum();
  }

  public CacheStore delegate() {
    return delegate;
  }

  // --- internals ---

  private CacheUnavailableException refuseRead() {
    if (closed) {
      return closedStore;
    }
    if (isDirty()) {
      heal();
      rejected.increment();
      dirtyWarning.warn("cache bypassed: an invalidation was lost and " + description
          + " must accept a global epoch bump first", null);
      return dirty;
    }
    return null;
  }

  /**
   * Makes a call from off the loops (an {@code invalidate} from the admin endpoint) on the first loop, so that
   * its deadline needs no timer thread: once started, the timer thread would tick every 10 ms for the life of
   * the process. The caller's continuations run on that loop, as the store's own do.
   */
  private <T> CompletableFuture<T> onLoop(Supplier<CompletableFuture<T>> call) {
    try {
      return CompletableFuture.supplyAsync(call, loops[0]).thenCompose(Function.identity());
    } catch (java.util.concurrent.RejectedExecutionException shutDown) {
      return CompletableFuture.failedFuture(closedStore);
    }
  }

  /** The loop among {@link #loops} that the calling thread runs, or null. */
  private EventExecutor currentLoop() {
    for (EventExecutor loop : loops) {
      if (loop.inEventLoop()) {
        return loop;
      }
    }
    return null;
  }

  /**
   * Runs {@code call} under the breaker and the timeout. For reads, an answer that arrives after the
   * store turned dirty is discarded. For invalidations, a failure marks the store dirty before the
   * caller hears of it, so the caller's next lookup already sees the flag.
   */
  private <T> CompletableFuture<T> guarded(Supplier<CompletableFuture<T>> call, boolean read, boolean invalidation) {
    EventExecutor loop = currentLoop();
    if (loop == null && loops.length > 0) {
      return onLoop(() -> guarded(call, read, invalidation));
    }
    Permit permit = acquire();
    if (permit == null) {
      rejected.increment();
      if (invalidation) {
        lost(breakerOpen);
      } else {
        openWarning.warn("cache bypassed: " + description
            + " circuit breaker is open after repeated failures; probing every "
            + TimeUnit.NANOSECONDS.toMillis(cooldownNanos) + " ms", null);
      }
      return CompletableFuture.failedFuture(breakerOpen);
    }
    CompletableFuture<T> out = new CompletableFuture<>();
    CompletableFuture<T> source;
    try {
      source = call.get();
    } catch (RuntimeException e) {
      source = CompletableFuture.failedFuture(e);
    }
    if (source.isDone()) {
      // Answered at once (the in-process store always is): no deadline to arm and cancel.
      source.whenComplete((value, error) -> settle(value, error, permit, read, invalidation, out));
      return out;
    }
    AtomicBoolean settled = new AtomicBoolean(); // the deadline and the answer race; one settles
    Runnable expire = () -> {
      if (settled.compareAndSet(false, true)) {
        CacheUnavailableException late = new CacheUnavailableException("cache store " + description
            + " did not answer within " + TimeUnit.NANOSECONDS.toMillis(timeoutNanos) + " ms");
        timeouts.increment();
        onFailure(permit);
        timeoutWarning.warn("cache bypassed: " + late.getMessage(), null);
        if (invalidation) {
          lost(late);
        }
        out.completeExceptionally(late);
      }
    };
    Object deadline;
    try {
      // On the calling loop, the deadline is an entry in its queue of scheduled tasks: the loop's wait for I/O
      // ends by the earliest one, and cancelling it from the loop removes the entry, with no other thread.
      deadline = loop != null ? loop.schedule(expire, timeoutNanos, TimeUnit.NANOSECONDS)
          : timer.newTimeout(unused -> expire.run(), timeoutNanos, TimeUnit.NANOSECONDS);
    } catch (RuntimeException shutDown) {
      return CompletableFuture.failedFuture(closedStore);
    }
    source.whenComplete((value, error) -> {
      if (!settled.compareAndSet(false, true)) {
        return; // timed out already; counted there
      }
      if (deadline instanceof io.netty.util.Timeout t) {
        t.cancel();
      } else if (loop.inEventLoop()) {
        ((java.util.concurrent.Future<?>) deadline).cancel(false);
      } // else answered on another thread: cancelling would wake the loop up, while the deadline, left to
        // expire, finds the call settled and does nothing
      settle(value, error, permit, read, invalidation, out);
    });
    return out;
  }

  /** Completes {@code out} with the store's answer, and records its success or failure. */
  private <T> void settle(T value, Throwable error, Permit permit, boolean read, boolean invalidation,
      CompletableFuture<T> out) {
    if (error == null) {
      onSuccess(permit);
      if (read && isDirty()) {
        rejected.increment();
        out.completeExceptionally(dirty);
      } else {
        out.complete(value);
      }
      return;
    }
    Throwable cause = unwrap(error);
    errors.increment();
    onFailure(permit);
    errorWarning.warn("cache bypassed: " + description + " failed", cause);
    CacheUnavailableException failure = cause instanceof CacheUnavailableException c
        ? c
        : new CacheUnavailableException(
            "cache store " + description + " failed: " + RateLimitedLog.describe(cause), cause);
    if (invalidation) {
      lost(failure);
    }
    out.completeExceptionally(failure);
  }

  private void lost(CacheUnavailableException why) {
    lostInvalidations.incrementAndGet();
    lostWarning.warn("cache bypassed: an invalidation could not be written to " + description
        + "; cached results stay unused until the global epoch is bumped", why);
  }

  /** Starts one global epoch bump unless one is running or the breaker refuses it. */
  private void heal() {
    if (closed || !healing.compareAndSet(false, true)) {
      return;
    }
    long covered = lostInvalidations.get();
    CompletableFuture<Void> bump;
    try {
      bump = guardedHeal();
    } catch (RuntimeException e) {
      healing.set(false);
      return;
    }
    bump.whenComplete((v, e) -> {
      if (e == null) {
        healedUpTo.accumulateAndGet(covered, Math::max);
        globalEpochBumps.increment();
        log.info("global epoch bumped in {} after lost invalidations; cache in use again", description);
      }
      healing.set(false);
    });
  }

  private CompletableFuture<Void> guardedHeal() {
    if (state != BreakerState.CLOSED && !(state == BreakerState.OPEN && cooldownOver())) {
      return CompletableFuture.failedFuture(breakerOpen); // not counted as a rejected query
    }
    return guarded(() -> delegate.bump(List.of(Keys.globalEpoch())), false, false);
  }

  private Permit acquire() {
    if (state == BreakerState.CLOSED) {
      return Permit.NORMAL;
    }
    if (state == BreakerState.OPEN && cooldownOver() && probeInFlight.compareAndSet(false, true)) {
      // Re-check: a probe that just failed may have started a new cooldown.
      if (!cooldownOver() || state != BreakerState.OPEN) {
        probeInFlight.set(false);
        return null;
      }
      state = BreakerState.HALF_OPEN;
      return Permit.PROBE;
    }
    return null;
  }

  private boolean cooldownOver() {
    return System.nanoTime() - openUntilNanos >= 0;
  }

  private void onSuccess(Permit permit) {
    if (permit == Permit.PROBE) {
      synchronized (this) {
        consecutiveFailures.set(0);
        state = BreakerState.CLOSED;
        probeInFlight.set(false);
      }
      log.info("cache store {} answers again; circuit breaker closed", description);
    } else if (state == BreakerState.CLOSED && consecutiveFailures.get() != 0) {
      consecutiveFailures.set(0);
    }
  }

  private void onFailure(Permit permit) {
    if (permit == Permit.PROBE) {
      synchronized (this) {
        openUntilNanos = System.nanoTime() + cooldownNanos;
        state = BreakerState.OPEN;
        probeInFlight.set(false);
      }
      return;
    }
    if (consecutiveFailures.incrementAndGet() >= failureThreshold) {
      synchronized (this) {
        if (state == BreakerState.CLOSED) {
          openUntilNanos = System.nanoTime() + cooldownNanos;
          state = BreakerState.OPEN;
          breakerOpenings.increment();
          openWarning.warn("cache bypassed: " + description + " failed " + failureThreshold
              + " times in a row; circuit breaker open", null);
        }
      }
    }
  }

  private static Throwable unwrap(Throwable t) {
    while (t instanceof CompletionException && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  private static RateLimitedLog warning() {
    return new RateLimitedLog(log, WARN_INTERVAL_NANOS, System::nanoTime);
  }
}
