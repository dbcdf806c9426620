package dev.pgmemo.cache.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class MemoryStoreTest extends CacheStoreContract {

  @Override
  protected CacheStore openStore() {
    return new MemoryStore(64L * 1024 * 1024);
  }

  @Test
  void staysWithinItsByteBound() throws Exception {
    MemoryStore small = new MemoryStore(1024 * 1024);
    List<byte[]> keys = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      byte[] key = entryKey();
      keys.add(key);
      join(small.put(key, new byte[64 * 1024], Duration.ofMinutes(1)));
    }
    small.cleanUp();

    assertThat(small.weightedSize()).isLessThanOrEqualTo(small.maxBytes()).isPositive();
    long kept = keys.stream().filter(k -> small.lookup(k, List.of()).join().entry() != null).count();
    assertThat(kept).isBetween(1L, 16L);
  }

  @Test
  void neverEvictsTokens() throws Exception {
    MemoryStore small = new MemoryStore(1024);
    List<byte[]> tokenKeys = new ArrayList<>();
    for (int i = 0; i < 10_000; i++) {
      tokenKeys.add(Keys.tableToken("db", "s", "t" + i));
    }
    List<byte[]> first = join(small.tokens(tokenKeys));
    for (int i = 0; i < 50; i++) {
      join(small.put(entryKey(), new byte[512], Duration.ofMinutes(1)));
    }
    small.cleanUp();

    assertThat(CacheEntry.sameTokens(join(small.tokens(tokenKeys)), first)).isTrue();
  }

  @Test
  void operationsCompleteBeforeReturning() {
    assertThat(store.lookup(entryKey(), tokenKeys("a"))).isDone();
    assertThat(store.put(entryKey(), bytes("x"), Duration.ofSeconds(1))).isDone();
    assertThat(store.bump(tokenKeys("a"))).isDone();
    assertThat(store.describe()).isEqualTo("memory");
  }
}
