package dev.pgmemo.cache.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** What every {@link CacheStore} must do; run against each store by a subclass. */
@Timeout(value = 15, unit = TimeUnit.SECONDS)
abstract class CacheStoreContract {

  static {
    TestLogging.quiet();
  }

  protected CacheStore store;

  /** A fresh, empty, connected store with a namespace of its own. */
  protected abstract CacheStore openStore() throws Exception;

  /**
   * Another store over the same data, as a second pgmemo instance would see it; stores that cannot
   * share data return {@code store} itself.
   */
  protected CacheStore openPeer() throws Exception {
    return store;
  }

  @BeforeEach
  void openTheStore() throws Exception {
    store = openStore();
  }

  @AfterEach
  void closeTheStore() throws Exception {
    if (store != null) {
      store.close();
    }
  }

  // --- entries ---

  @Test
  void returnsStoredEntryWithTheTokensItRecorded() throws Exception {
    List<byte[]> tokenKeys = tokenKeys("orders", "customers");
    List<byte[]> before = join(store.tokens(tokenKeys));
    byte[] key = entryKey();
    CacheEntry entry = new CacheEntry(before, bytes("T\0\0\0\u0004rows"));
    join(store.put(key, entry.encode(), Duration.ofMinutes(1)));

    Lookup found = join(store.lookup(key, tokenKeys));

    assertThat(found.entry()).isNotNull();
    CacheEntry decoded = CacheEntry.decode(found.entry());
    assertThat(decoded).isEqualTo(entry);
    assertThat(decoded.matches(found.tokens())).isTrue();
  }

  @Test
  void unknownEntryIsAMissThatStillReturnsTokens() throws Exception {
    Lookup found = join(store.lookup(entryKey(), tokenKeys("a", "b", "c")));

    assertThat(found.entry()).isNull();
    assertThat(found.tokens()).hasSize(3).doesNotContainNull();
  }

  @Test
  void putReplacesAnEarlierEntry() throws Exception {
    byte[] key = entryKey();
    join(store.put(key, bytes("first"), Duration.ofMinutes(1)));
    join(store.put(key, bytes("second"), Duration.ofMinutes(1)));

    assertThat(join(store.lookup(key, List.of())).entry()).isEqualTo(bytes("second"));
  }

  @Test
  void entryExpiresAfterItsTtl() throws Exception {
    byte[] shortLived = entryKey();
    byte[] longLived = entryKey();
    join(store.put(shortLived, bytes("soon gone"), Duration.ofMillis(150)));
    join(store.put(longLived, bytes("stays"), Duration.ofMinutes(1)));
    assertThat(join(store.lookup(shortLived, List.of())).entry()).isNotNull();

    await().atMost(Duration.ofSeconds(3)).pollInterval(Duration.ofMillis(25))
        .until(() -> join(store.lookup(shortLived, List.of())).entry() == null);
    assertThat(join(store.lookup(longLived, List.of())).entry()).isEqualTo(bytes("stays"));
  }

  @Test
  void rejectsANonPositiveTtl() {
    assertThatThrownBy(() -> store.put(entryKey(), bytes("x"), Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> store.put(entryKey(), bytes("x"), Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void keysAndValuesAreBinarySafe() throws Exception {
    byte[] key = new byte[256];
    byte[] value = new byte[256 * 3];
    for (int i = 0; i < 256; i++) {
      key[i] = (byte) i;
      value[i] = (byte) i;
      value[256 + i] = (byte) (255 - i);
      value[512 + i] = (byte) (i % 2 == 0 ? '\r' : '\n');
    }
    byte[] tokenKey = "pgmemo:t:db:\0\r\n\u00ff.\u00e9t\u00e9".getBytes(StandardCharsets.UTF_8);
    join(store.put(key, value, Duration.ofMinutes(1)));

    Lookup found = join(store.lookup(key, List.of(tokenKey)));

    assertThat(found.entry()).isEqualTo(value);
    assertThat(join(store.tokens(List.of(tokenKey)))).containsExactlyElementsOf(found.tokens());
  }

  @Test
  void storesLargeValues() throws Exception {
    byte[] wire = new byte[8 * 1024 * 1024 + 13];
    ThreadLocalRandom.current().nextBytes(wire);
    List<byte[]> tokenKeys = tokenKeys("big");
    CacheEntry entry = new CacheEntry(join(store.tokens(tokenKeys)), wire);
    byte[] key = entryKey();
    join(store.put(key, entry.encode(), Duration.ofMinutes(1)));

    Lookup found = join(store.lookup(key, tokenKeys));

    assertThat(CacheEntry.decode(found.entry()).wire()).isEqualTo(wire);
    assertThat(CacheEntry.decode(found.entry()).matches(found.tokens())).isTrue();
  }

  // --- tokens ---

  @Test
  void missingTokenIsCreatedRandomAndThenStable() throws Exception {
    List<byte[]> tokenKeys = tokenKeys("t1", "t2");

    List<byte[]> first = join(store.lookup(entryKey(), tokenKeys)).tokens();
    List<byte[]> second = join(store.lookup(entryKey(), tokenKeys)).tokens();
    List<byte[]> third = join(store.tokens(tokenKeys));

    assertThat(first).hasSize(2).doesNotContainNull();
    assertThat(first.get(0)).hasSize(Tokens.LENGTH).isNotEqualTo(new byte[Tokens.LENGTH]);
    assertThat(first.get(0)).isNotEqualTo(first.get(1));
    assertThat(CacheEntry.sameTokens(first, second)).isTrue();
    assertThat(CacheEntry.sameTokens(first, third)).isTrue();
  }

  @Test
  void tokensComeBackInRequestOrderEvenWhenRepeated() throws Exception {
    byte[] a = tokenKeys("a").get(0);
    byte[] b = tokenKeys("b").get(0);
    List<byte[]> ab = join(store.tokens(List.of(a, b)));

    List<byte[]> mixed = join(store.tokens(List.of(b, a, b)));

    assertThat(mixed.get(0)).isEqualTo(ab.get(1));
    assertThat(mixed.get(1)).isEqualTo(ab.get(0));
    assertThat(mixed.get(2)).isEqualTo(ab.get(1));
    assertThat(join(store.tokens(List.of()))).isEmpty();
  }

  @Test
  void bumpReplacesOnlyTheNamedTokensAndTheEntryStopsMatching() throws Exception {
    byte[] orders = tokenKeys("orders").get(0);
    byte[] other = tokenKeys("other").get(0);
    List<byte[]> tokenKeys = List.of(orders, Keys.globalEpoch());
    byte[] key = entryKey();
    List<byte[]> before = join(store.tokens(tokenKeys));
    byte[] otherBefore = join(store.tokens(List.of(other))).get(0);
    join(store.put(key, new CacheEntry(before, bytes("rows")).encode(), Duration.ofMinutes(1)));

    join(store.bump(List.of(orders)));
    Lookup after = join(store.lookup(key, tokenKeys));

    assertThat(after.tokens().get(0)).isNotEqualTo(before.get(0)).hasSize(Tokens.LENGTH);
    assertThat(after.tokens().get(1)).isEqualTo(before.get(1));
    assertThat(join(store.tokens(List.of(other))).get(0)).isEqualTo(otherBefore);
    assertThat(CacheEntry.decode(after.entry()).matches(after.tokens())).isFalse();
  }

  @Test
  void bumpOfATokenNeverSeenCreatesIt() throws Exception {
    byte[] fresh = tokenKeys("never-seen").get(0);
    join(store.bump(List.of(fresh)));

    List<byte[]> once = join(store.tokens(List.of(fresh)));
    assertThat(join(store.tokens(List.of(fresh)))).containsExactlyElementsOf(once);
    join(store.bump(List.of()));
  }

  @Test
  void concurrentCreationOfOneTokenAgreesOnOneWinner() throws Exception {
    CacheStore peer = openPeer();
    ExecutorService threads = Executors.newFixedThreadPool(8);
    try {
      for (int round = 0; round < 20; round++) {
        List<byte[]> key = tokenKeys("race-" + round);
        List<CompletableFuture<List<byte[]>>> answers = new ArrayList<>();
        List<CompletableFuture<Void>> started = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
          CacheStore s = i % 2 == 0 ? store : peer;
          boolean viaLookup = i % 3 == 0;
          CompletableFuture<List<byte[]>> answer = new CompletableFuture<>();
          answers.add(answer);
          started.add(CompletableFuture.runAsync(() -> {
            CompletableFuture<List<byte[]>> f = viaLookup
                ? s.lookup(entryKey(), key).thenApply(Lookup::tokens)
                : s.tokens(key);
            f.whenComplete((v, e) -> {
              if (e != null) {
                answer.completeExceptionally(e);
              } else {
                answer.complete(v);
              }
            });
          }, threads));
        }
        join(CompletableFuture.allOf(started.toArray(CompletableFuture[]::new)));
        byte[] winner = join(answers.get(0)).get(0);
        for (CompletableFuture<List<byte[]>> answer : answers) {
          assertThat(join(answer).get(0)).isEqualTo(winner);
        }
      }
    } finally {
      threads.shutdownNow();
      if (peer != store) {
        peer.close();
      }
    }
  }

  @Test
  void bumpIsSeenByAnotherInstance() throws Exception {
    CacheStore peer = openPeer();
    try {
      List<byte[]> tokenKeys = tokenKeys("shared");
      byte[] key = entryKey();
      List<byte[]> before = join(peer.tokens(tokenKeys));
      join(peer.put(key, new CacheEntry(before, bytes("rows")).encode(), Duration.ofMinutes(1)));
      assertThat(CacheEntry.decode(join(store.lookup(key, tokenKeys)).entry())
          .matches(join(store.tokens(tokenKeys)))).isTrue();

      join(store.bump(tokenKeys));

      Lookup seenByPeer = join(peer.lookup(key, tokenKeys));
      assertThat(CacheEntry.decode(seenByPeer.entry()).matches(seenByPeer.tokens())).isFalse();
    } finally {
      if (peer != store) {
        peer.close();
      }
    }
  }

  @Test
  void invalidateAllMakesEveryEntryStale() throws Exception {
    List<byte[]> tokenKeys = List.of(tokenKeys("x").get(0), Keys.databaseEpoch("db"), Keys.globalEpoch());
    List<byte[]> entryKeys = IntStream.range(0, 5).mapToObj(i -> entryKey()).toList();
    List<byte[]> before = join(store.tokens(tokenKeys));
    for (byte[] key : entryKeys) {
      join(store.put(key, new CacheEntry(before, bytes("rows")).encode(), Duration.ofMinutes(1)));
    }

    join(store.invalidateAll());

    for (byte[] key : entryKeys) {
      Lookup after = join(store.lookup(key, tokenKeys));
      assertThat(after.entry() == null || !CacheEntry.decode(after.entry()).matches(after.tokens()))
          .as("entry %s is gone or stale", HexFormat.of().formatHex(key))
          .isTrue();
    }
  }

  @Test
  void describesItself() {
    assertThat(store.describe()).isNotBlank().doesNotContain("@");
  }

  // --- helpers ---

  /** Table token keys in a database of this test run's own. */
  protected List<byte[]> tokenKeys(String... tables) {
    return java.util.Arrays.stream(tables)
        .map(t -> Keys.tableToken("db", "public", t))
        .toList();
  }

  protected static byte[] entryKey() {
    byte[] hash = new byte[32];
    ThreadLocalRandom.current().nextBytes(hash);
    return Keys.entry(hash);
  }

  protected static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.ISO_8859_1);
  }

  protected static <T> T join(CompletableFuture<T> f) throws Exception {
    return f.get(10, TimeUnit.SECONDS);
  }
}
