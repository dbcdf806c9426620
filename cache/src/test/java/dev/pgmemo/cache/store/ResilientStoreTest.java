package dev.pgmemo.cache.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.pgmemo.cache.store.ResilientStore.BreakerState;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The breaker and the lost-invalidation guard, driven by a store whose failures the test controls. */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class ResilientStoreTest {

  static {
    TestLogging.quiet();
  }

  /** Long enough that a loaded CI machine does not turn answers into timeouts. */
  private static final Duration TIMEOUT = Duration.ofMillis(400);
  private static final Duration COOLDOWN = Duration.ofMillis(300);
  private static final byte[] ORDERS = Keys.tableToken("db", "public", "orders");
  private static final List<byte[]> TOKEN_KEYS = List.of(ORDERS, Keys.databaseEpoch("db"), Keys.globalEpoch());

  private FaultyStore faulty;
  private ResilientStore store;

  @BeforeEach
  void open() {
    faulty = new FaultyStore();
    store = new ResilientStore(faulty, TIMEOUT, 3, COOLDOWN);
    store.lookup(key(), TOKEN_KEYS).join(); // loads the classes on the path before timing anything
    faulty.calls.set(0);
  }

  @AfterEach
  void close() {
    store.close();
  }

  @Test
  void opensAfterThreeConsecutiveFailuresThenFailsFastWithoutAskingTheStore() {
    faulty.mode = FaultyStore.Mode.FAIL;
    for (int i = 0; i < 3; i++) {
      assertFails(store.lookup(key(), TOKEN_KEYS));
    }
    assertThat(store.breakerState()).isEqualTo(BreakerState.OPEN);
    assertThat(store.errors()).isEqualTo(3);
    assertThat(store.breakerOpenings()).isEqualTo(1);

    faulty.mode = FaultyStore.Mode.OK;
    for (int i = 0; i < 100; i++) {
      CompletableFuture<Lookup> refused = store.lookup(key(), TOKEN_KEYS);
      assertThat(refused).isCompletedExceptionally();
    }
    assertThat(faulty.calls.get()).isEqualTo(3);
    assertThat(store.rejected()).isEqualTo(100);
    assertThat(store.isAvailable()).isFalse();
  }

  @Test
  void aSuccessResetsTheCountOfConsecutiveFailures() {
    faulty.mode = FaultyStore.Mode.FAIL;
    assertFails(store.lookup(key(), TOKEN_KEYS));
    assertFails(store.lookup(key(), TOKEN_KEYS));
    faulty.mode = FaultyStore.Mode.OK;
    store.lookup(key(), TOKEN_KEYS).join();
    faulty.mode = FaultyStore.Mode.FAIL;
    assertFails(store.lookup(key(), TOKEN_KEYS));
    assertFails(store.lookup(key(), TOKEN_KEYS));

    assertThat(store.breakerState()).isEqualTo(BreakerState.CLOSED);
  }

  @Test
  void anUnansweredOperationTimesOutAndCountsAsAFailure() {
    faulty.mode = FaultyStore.Mode.HANG;
    long start = System.nanoTime();

    Throwable failure = assertFails(store.lookup(key(), TOKEN_KEYS));

    assertThat(RedisServerProcess.since(start)).isBetween(TIMEOUT.minusMillis(5), Duration.ofSeconds(3));
    assertThat(failure).hasMessageContaining("did not answer within 400 ms");
    assertThat(store.timeouts()).isEqualTo(1);
    assertFails(store.put(key(), new byte[1], Duration.ofSeconds(1)));
    assertFails(store.tokens(TOKEN_KEYS));
    assertThat(store.breakerState()).isEqualTo(BreakerState.OPEN);
  }

  @Test
  void aCallMadeOnAnEventLoopHasItsDeadlineOnThatLoopAndAnAnswerThereCancelsIt() throws Exception {
    io.netty.util.concurrent.DefaultEventExecutorGroup group = new io.netty.util.concurrent.DefaultEventExecutorGroup(1);
    io.netty.util.concurrent.EventExecutor loop = group.next();
    ResilientStore onLoop = new ResilientStore(faulty, TIMEOUT, 3, COOLDOWN, group);
    try {
      // unanswered: the timeout fires on the calling loop (no timer thread), after the timeout
      faulty.mode = FaultyStore.Mode.HANG;
      long start = System.nanoTime();
      CompletableFuture<String> failedOn = loop.submit(() -> onLoop.lookup(key(), TOKEN_KEYS)).get()
          .handle((value, error) -> error != null ? Thread.currentThread().getName() : "answered");
      assertThat(failedOn.get(3, TimeUnit.SECONDS)).isEqualTo(threadOf(loop));
      assertThat(RedisServerProcess.since(start)).isBetween(TIMEOUT.minusMillis(5), Duration.ofSeconds(3));
      assertThat(onLoop.timeouts()).isEqualTo(1);
      // answered on the loop: the deadline is cancelled there, and no timeout is counted once it is due
      faulty.mode = FaultyStore.Mode.HOLD_LOOKUPS;
      CompletableFuture<Lookup> held = loop.submit(() -> onLoop.lookup(key(), TOKEN_KEYS)).get();
      loop.submit(() -> faulty.heldLookups.poll().run()).get();
      assertThat(held.get(3, TimeUnit.SECONDS)).isNotNull();
      int pending = loop.submit(() -> scheduledTasks(loop)).get();
      assertThat(pending).isZero();
      Thread.sleep(TIMEOUT.toMillis() + 100);
      assertThat(onLoop.timeouts()).isEqualTo(1);
      // a call made off the loops (an admin invalidate) is made on a loop: its deadline too
      faulty.mode = FaultyStore.Mode.HANG;
      CompletableFuture<String> offLoop = onLoop.lookup(key(), TOKEN_KEYS)
          .handle((value, error) -> error != null ? Thread.currentThread().getName() : "answered");
      assertThat(offLoop.get(3, TimeUnit.SECONDS)).isEqualTo(threadOf(loop));
      assertThat(onLoop.timeouts()).isEqualTo(2);
      // answered, it completes normally
      faulty.mode = FaultyStore.Mode.OK;
      assertThat(onLoop.lookup(key(), TOKEN_KEYS).get(3, TimeUnit.SECONDS)).isNotNull();
      // without loops, the timer thread keeps the deadline
      faulty.mode = FaultyStore.Mode.HANG;
      CompletableFuture<String> noLoops = store.lookup(key(), TOKEN_KEYS)
          .handle((value, error) -> error != null ? Thread.currentThread().getName() : "answered");
      assertThat(noLoops.get(3, TimeUnit.SECONDS)).isEqualTo("pgmemo-cache-timeout");
    } finally {
      onLoop.close();
      group.shutdownGracefully(0, 0, TimeUnit.SECONDS);
    }
  }

  private static String threadOf(io.netty.util.concurrent.EventExecutor loop) throws Exception {
    return loop.submit(() -> Thread.currentThread().getName()).get();
  }

  /** The tasks scheduled on {@code loop} (called on it): a deadline left behind would be one. */
  private static int scheduledTasks(io.netty.util.concurrent.EventExecutor loop) throws Exception {
    java.lang.reflect.Field queue = io.netty.util.concurrent.AbstractScheduledEventExecutor.class
        .getDeclaredField("scheduledTaskQueue");
    queue.setAccessible(true);
    java.util.Queue<?> tasks = (java.util.Queue<?>) queue.get(loop);
    return tasks == null ? 0 : tasks.size();
  }

  @Test
  void probesAfterTheCooldownAndClosesWhenTheProbeSucceeds() {
    openBreaker();
    faulty.mode = FaultyStore.Mode.OK;
    assertThat(store.lookup(key(), TOKEN_KEYS)).isCompletedExceptionally();

    await().atMost(Duration.ofSeconds(2)).pollInterval(Duration.ofMillis(20))
        .until(() -> !store.lookup(key(), TOKEN_KEYS).isCompletedExceptionally());

    assertThat(store.breakerState()).isEqualTo(BreakerState.CLOSED);
    assertThat(store.isAvailable()).isTrue();
  }

  @Test
  void aFailedProbeOpensTheBreakerForAnotherCooldown() throws Exception {
    openBreaker();
    Thread.sleep(COOLDOWN.toMillis() + 20);
    int calls = faulty.calls.get();

    assertFails(store.lookup(key(), TOKEN_KEYS)); // the probe
    assertThat(faulty.calls.get()).isEqualTo(calls + 1);
    assertThat(store.breakerState()).isEqualTo(BreakerState.OPEN);
    faulty.mode = FaultyStore.Mode.OK;
    assertThat(store.lookup(key(), TOKEN_KEYS)).isCompletedExceptionally();
    assertThat(faulty.calls.get()).isEqualTo(calls + 1);
  }

  @Test
  void letsOnlyOneProbeThroughAtATime() throws Exception {
    openBreaker();
    faulty.mode = FaultyStore.Mode.HANG;
    Thread.sleep(COOLDOWN.toMillis() + 20);
    int calls = faulty.calls.get();

    CompletableFuture<Lookup> probe = store.lookup(key(), TOKEN_KEYS);
    CompletableFuture<Lookup> second = store.lookup(key(), TOKEN_KEYS);

    assertThat(probe).isNotDone();
    assertThat(store.breakerState()).isEqualTo(BreakerState.HALF_OPEN);
    assertThat(second).isCompletedExceptionally();
    assertThat(faulty.calls.get()).isEqualTo(calls + 1);
    assertFails(probe);
    assertThat(store.breakerState()).isEqualTo(BreakerState.OPEN);
  }

  @Test
  void aLostBumpKeepsReadsOffTheStoreUntilTheGlobalEpochIsBumped() throws Exception {
    List<byte[]> before = store.tokens(TOKEN_KEYS).join();
    byte[] key = key();
    store.put(key, new CacheEntry(before, new byte[] {1}).encode(), Duration.ofMinutes(1)).join();
    faulty.failBumps = true;
    AtomicBoolean dirtyWhenCallerHeard = new AtomicBoolean();

    CompletableFuture<Void> bump = store.bump(List.of(ORDERS))
        .whenComplete((v, e) -> dirtyWhenCallerHeard.set(store.isDirty()));

    assertFails(bump);
    assertThat(dirtyWhenCallerHeard).isTrue();
    assertThat(store.lostInvalidations()).isEqualTo(1);
    // The store still answers reads, but they must not be used: the bump of orders was lost.
    for (int i = 0; i < 5; i++) {
      assertFails(store.lookup(key, TOKEN_KEYS));
      assertFails(store.tokens(TOKEN_KEYS));
      assertFails(store.put(key(), new byte[1], Duration.ofMinutes(1)));
    }
    assertThat(store.isDirty()).isTrue();

    faulty.failBumps = false;
    await().atMost(Duration.ofSeconds(3)).pollInterval(Duration.ofMillis(20))
        .until(() -> !store.lookup(key, TOKEN_KEYS).isCompletedExceptionally());

    Lookup after = store.lookup(key, TOKEN_KEYS).join();
    assertThat(after.tokens().get(0)).as("orders: its bump was lost").isEqualTo(before.get(0));
    assertThat(after.tokens().get(2)).as("global epoch").isNotEqualTo(before.get(2));
    assertThat(CacheEntry.decode(after.entry()).matches(after.tokens())).isFalse();
    assertThat(store.globalEpochBumps()).isEqualTo(1);
    assertThat(store.isDirty()).isFalse();
  }

  @Test
  void aBumpRefusedByTheOpenBreakerIsALostInvalidation() {
    List<byte[]> before = store.tokens(TOKEN_KEYS).join();
    openBreaker();
    faulty.mode = FaultyStore.Mode.OK;
    int calls = faulty.calls.get();

    assertFails(store.bump(List.of(ORDERS)));

    assertThat(faulty.calls.get()).isEqualTo(calls);
    assertThat(store.isDirty()).isTrue();
    await().atMost(Duration.ofSeconds(3)).pollInterval(Duration.ofMillis(20))
        .until(() -> !store.lookup(key(), TOKEN_KEYS).isCompletedExceptionally());
    List<byte[]> after = store.tokens(TOKEN_KEYS).join();
    assertThat(after.get(0)).isEqualTo(before.get(0));
    assertThat(after.get(2)).isNotEqualTo(before.get(2));
  }

  @Test
  void aFailedInvalidateAllIsALostInvalidation() {
    faulty.failBumps = true;

    assertFails(store.invalidateAll());

    assertThat(store.isDirty()).isTrue();
  }

  @Test
  void aLookupAnsweredAfterAnInvalidationWasLostIsDiscarded() {
    faulty.mode = FaultyStore.Mode.HOLD_LOOKUPS;
    CompletableFuture<Lookup> inFlight = store.lookup(key(), TOKEN_KEYS);
    faulty.failBumps = true;
    assertFails(store.bump(List.of(ORDERS)));

    faulty.releaseHeldLookups();

    assertThat(assertFails(inFlight)).hasMessageContaining("invalidation was lost");
  }

  @Test
  void aTimedOutBumpIsALostInvalidationEvenIfTheStoreAppliesItLater() {
    faulty.mode = FaultyStore.Mode.HANG;

    assertFails(store.bump(List.of(ORDERS)));

    assertThat(store.isDirty()).isTrue();
    assertThat(store.timeouts()).isEqualTo(1);
  }

  @Test
  void aCallersMistakeIsThrownNotCountedAsAStoreFailure() {
    assertThatThrownBy(() -> store.put(key(), new byte[1], Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(store.errors()).isZero();
  }

  @Test
  void aClosedStoreRefusesEverything() {
    store.close();

    assertFails(store.lookup(key(), TOKEN_KEYS));
    assertFails(store.bump(List.of(ORDERS)));
    assertThat(store.describe()).isEqualTo("faulty");
  }

  private void openBreaker() {
    faulty.mode = FaultyStore.Mode.FAIL;
    for (int i = 0; i < 3; i++) {
      assertFails(store.lookup(key(), TOKEN_KEYS));
    }
    assertThat(store.breakerState()).isEqualTo(BreakerState.OPEN);
  }

  private static Throwable assertFails(CompletableFuture<?> f) {
    try {
      f.get(5, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      assertThat(e.getCause()).isInstanceOf(CacheUnavailableException.class);
      return e.getCause();
    } catch (Exception e) {
      throw new AssertionError("expected the store to fail, got " + e, e);
    }
    throw new AssertionError("expected the store to fail, but it answered");
  }

  private static byte[] key() {
    return CacheStoreContract.entryKey();
  }
}
