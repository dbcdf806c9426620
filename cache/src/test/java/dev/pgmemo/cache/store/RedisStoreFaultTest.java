package dev.pgmemo.cache.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.pgmemo.cache.store.ResilientStore.BreakerState;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Real failures of a real Redis: a redis-server of this test's own on a free port, killed, stopped
 * with SIGSTOP, refusing writes, or flushed.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class RedisStoreFaultTest {

  static {
    TestLogging.quiet();
  }

  private static final Duration TIMEOUT = Duration.ofMillis(200);
  private static final Duration COOLDOWN = Duration.ofMillis(500);
  private static final byte[] ORDERS = Keys.tableToken("app", "public", "orders");
  private static final List<byte[]> TOKEN_KEYS = List.of(ORDERS, Keys.databaseEpoch("app"), Keys.globalEpoch());

  private RedisServerProcess server;
  private ResilientStore store;
  private RedisStore observer;

  @BeforeEach
  void startServer() throws Exception {
    server = RedisServerProcess.onFreePort().start();
  }

  @AfterEach
  void stopEverything() throws Exception {
    if (store != null) {
      store.close();
    }
    if (observer != null) {
      observer.close();
    }
    server.close();
  }

  @Test
  void startsWhileRedisIsDownAndConnectsWhenItComesUp() throws Exception {
    server.kill();
    long start = System.nanoTime();
    RedisStore redis = new RedisStore(server.uri(), "", TIMEOUT);
    store = new ResilientStore(redis, TIMEOUT, 3, COOLDOWN);
    assertThat(RedisServerProcess.since(start)).isLessThan(Duration.ofSeconds(1));
    assertThat(redis.isConnected()).isFalse();

    long failStart = System.nanoTime();
    assertThat(failure(store.lookup(key(), TOKEN_KEYS))).hasMessageContaining("not connected");
    assertThat(RedisServerProcess.since(failStart)).isLessThan(Duration.ofMillis(100));

    server.start();
    await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(50))
        .until(() -> succeeds(store.lookup(key(), TOKEN_KEYS)));
    assertThat(redis.isConnected()).isTrue();
    assertThat(store.breakerState()).isEqualTo(BreakerState.CLOSED);
  }

  @Test
  void killedServerOpensTheBreakerThenTheStoreRecoversWhenItIsBack() throws Exception {
    openStore();
    byte[] key = key();
    List<byte[]> before = storeEntry(key);

    server.kill();
    for (int i = 0; i < 3; i++) {
      long start = System.nanoTime();
      failure(store.lookup(key, TOKEN_KEYS));
      assertThat(RedisServerProcess.since(start)).isLessThan(Duration.ofSeconds(1));
    }
    assertThat(store.breakerState()).isEqualTo(BreakerState.OPEN);
    long start = System.nanoTime();
    for (int i = 0; i < 1000; i++) {
      assertThat(store.lookup(key, TOKEN_KEYS)).isCompletedExceptionally();
    }
    assertThat(RedisServerProcess.since(start)).as("1000 refused lookups").isLessThan(Duration.ofSeconds(2));

    server.start(); // same port, no persistence: an empty Redis
    await().atMost(Duration.ofSeconds(6)).pollInterval(Duration.ofMillis(50))
        .until(() -> succeeds(store.lookup(key, TOKEN_KEYS)));

    Lookup after = observer.lookup(key, TOKEN_KEYS).get(2, TimeUnit.SECONDS);
    assertThat(after.entry()).isNull();
    for (int i = 0; i < TOKEN_KEYS.size(); i++) {
      assertThat(after.tokens().get(i)).as("token %d recreated", i).isNotEqualTo(before.get(i));
    }
    assertThat(store.breakerState()).isEqualTo(BreakerState.CLOSED);
    assertThat(store.breakerOpenings()).isEqualTo(1);
  }

  @Test
  void bumpLostWhileTheServerIsStalledIsCoveredByAGlobalEpochBumpBeforeAnyLookup() throws Exception {
    openStore();
    byte[] key = key();
    List<byte[]> before = storeEntry(key);

    server.pause(); // connection stays up, nothing is answered, data is kept
    for (int i = 0; i < 3; i++) {
      long start = System.nanoTime();
      failure(store.lookup(key, TOKEN_KEYS));
      assertThat(RedisServerProcess.since(start)).isBetween(TIMEOUT.minusMillis(20), Duration.ofSeconds(2));
    }
    assertThat(store.breakerState()).isEqualTo(BreakerState.OPEN);
    assertThat(store.timeouts()).isEqualTo(3);
    failure(store.bump(List.of(ORDERS))); // refused at once: the invalidation never reaches Redis
    assertThat(store.isDirty()).isTrue();

    server.resume();
    await().atMost(Duration.ofSeconds(6)).pollInterval(Duration.ofMillis(50))
        .until(() -> succeeds(store.lookup(key, TOKEN_KEYS)));

    Lookup after = observer.lookup(key, TOKEN_KEYS).get(2, TimeUnit.SECONDS);
    assertThat(after.entry()).as("Redis kept its data").isNotNull();
    assertThat(after.tokens().get(0)).as("orders: the bump was lost").isEqualTo(before.get(0));
    assertThat(after.tokens().get(2)).as("global epoch").isNotEqualTo(before.get(2));
    assertThat(CacheEntry.decode(after.entry()).matches(after.tokens())).isFalse();
    assertThat(store.globalEpochBumps()).isEqualTo(1);
  }

  @Test
  void reconnectionIsTreatedAsALostInvalidationBecauseTheServerMayHaveLostTheLatestBumps() throws Exception {
    openStore();
    byte[] key = key();
    List<byte[]> before = storeEntry(key);
    assertThat(store.lostInvalidations()).as("the first connection is not a reconnection").isZero();

    // Drop every client connection: Lettuce reconnects to what may be a restarted server or a promoted replica.
    server.cli("CLIENT", "KILL", "TYPE", "normal");
    await().atMost(Duration.ofSeconds(5)).until(() -> store.lostInvalidations() == 1);
    await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(50))
        .until(() -> succeeds(store.lookup(key, TOKEN_KEYS)));

    Lookup after = observer.lookup(key, TOKEN_KEYS).get(2, TimeUnit.SECONDS);
    assertThat(after.entry()).as("Redis kept its data").isNotNull();
    assertThat(after.tokens().get(0)).as("orders").isEqualTo(before.get(0));
    assertThat(after.tokens().get(2)).as("global epoch").isNotEqualTo(before.get(2));
    assertThat(CacheEntry.decode(after.entry()).matches(after.tokens())).isFalse();
    assertThat(store.globalEpochBumps()).isEqualTo(1);
  }

  @Test
  void bumpRefusedByARedisThatStillAnswersReadsKeepsItsEntriesUnused() throws Exception {
    openStore();
    byte[] key = key();
    List<byte[]> before = storeEntry(key);

    assertThat(server.cli("CONFIG", "SET", "min-replicas-to-write", "1")).isEqualTo("OK");
    failure(store.bump(List.of(ORDERS))); // NOREPLICAS
    assertThat(store.isDirty()).isTrue();

    // Without the guard the stale entry would be served: Redis answers it, with matching tokens.
    Lookup unguarded = observer.lookup(key, TOKEN_KEYS).get(1, TimeUnit.SECONDS);
    assertThat(CacheEntry.decode(unguarded.entry()).matches(unguarded.tokens())).isTrue();
    for (int i = 0; i < 5; i++) {
      assertThat(failure(store.lookup(key, TOKEN_KEYS))).hasMessageContaining("invalidation was lost");
    }

    assertThat(server.cli("CONFIG", "SET", "min-replicas-to-write", "0")).isEqualTo("OK");
    await().atMost(Duration.ofSeconds(6)).pollInterval(Duration.ofMillis(50))
        .until(() -> succeeds(store.lookup(key, TOKEN_KEYS)));

    Lookup after = observer.lookup(key, TOKEN_KEYS).get(2, TimeUnit.SECONDS);
    assertThat(after.tokens().get(0)).isEqualTo(before.get(0));
    assertThat(CacheEntry.decode(after.entry()).matches(after.tokens())).isFalse();
    assertThat(store.isDirty()).isFalse();
  }

  @Test
  void flushedRedisLosesEntriesAndRecreatesTokensSoNothingStaleMatches() throws Exception {
    openStore();
    byte[] key = key();
    List<byte[]> before = storeEntry(key);

    assertThat(server.cli("FLUSHALL")).isEqualTo("OK");
    Lookup afterFlush = observer.lookup(key, TOKEN_KEYS).get(2, TimeUnit.SECONDS);
    // A result computed before the flush and stored after it must not match either.
    observer.put(key, new CacheEntry(before, new byte[] {42}).encode(), Duration.ofMinutes(1)).get(2, TimeUnit.SECONDS);
    Lookup late = observer.lookup(key, TOKEN_KEYS).get(2, TimeUnit.SECONDS);

    assertThat(afterFlush.entry()).isNull();
    for (int i = 0; i < TOKEN_KEYS.size(); i++) {
      assertThat(afterFlush.tokens().get(i)).isNotEqualTo(before.get(i)).hasSize(Tokens.LENGTH);
    }
    assertThat(CacheEntry.sameTokens(late.tokens(), afterFlush.tokens())).isTrue();
    assertThat(CacheEntry.decode(late.entry()).matches(late.tokens())).isFalse();
  }

  /** Stores an entry recording the current tokens, through the patient observer; returns the tokens. */
  private List<byte[]> storeEntry(byte[] key) throws Exception {
    List<byte[]> tokens = observer.tokens(TOKEN_KEYS).get(2, TimeUnit.SECONDS);
    observer.put(key, new CacheEntry(tokens, new byte[] {42}).encode(), Duration.ofMinutes(1))
        .get(2, TimeUnit.SECONDS);
    return tokens;
  }

  private void openStore() {
    store = new ResilientStore(RedisStoreTest.connected(new RedisStore(server.uri(), "", TIMEOUT)),
        TIMEOUT, 3, COOLDOWN);
    observer = RedisStoreTest.connected(new RedisStore(server.uri(), "", Duration.ofSeconds(2)));
  }

  private static boolean succeeds(CompletableFuture<?> f) {
    try {
      f.get(2, TimeUnit.SECONDS);
      return true;
    } catch (Exception e) {
      return false;
    }
  }

  private static Throwable failure(CompletableFuture<?> f) throws Exception {
    try {
      f.get(5, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      assertThat(e.getCause()).isInstanceOf(CacheUnavailableException.class);
      return e.getCause();
    }
    throw new AssertionError("expected the store to fail, but it answered");
  }

  private static byte[] key() {
    return CacheStoreContract.entryKey();
  }
}
