package dev.pgmemo.cache.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The contract against the shared Redis on 127.0.0.1:6379, in a key namespace of this test's own. */
class RedisStoreTest extends CacheStoreContract {

  static final int SHARED_REDIS_PORT = 6379;
  static final String SHARED_REDIS = "redis://127.0.0.1:" + SHARED_REDIS_PORT;

  private final String prefix = "pgmemo-test-" + UUID.randomUUID() + ":";

  @Override
  protected CacheStore openStore() {
    return connected(new RedisStore(SHARED_REDIS, prefix, Duration.ofSeconds(2)));
  }

  @Override
  protected CacheStore openPeer() {
    return connected(new RedisStore(SHARED_REDIS, prefix, Duration.ofSeconds(2)));
  }

  @AfterEach
  void deleteThisTestsKeys() throws Exception {
    RedisServerProcess.deleteKeys(SHARED_REDIS_PORT, prefix);
  }

  @Test
  void onlyNamesAreResolvedByLettucesDnsResolver() {
    assertThat(RedisStore.addressesOnly(io.lettuce.core.RedisURI.create("redis://127.0.0.1:6379"))).isTrue();
    assertThat(RedisStore.addressesOnly(io.lettuce.core.RedisURI.create("redis://[::1]:6379"))).isTrue();
    assertThat(RedisStore.addressesOnly(io.lettuce.core.RedisURI.create("redis-socket:///tmp/redis.sock"))).isTrue();
    assertThat(RedisStore.addressesOnly(io.lettuce.core.RedisURI.create("redis://localhost:6379"))).isFalse();
    assertThat(RedisStore.addressesOnly(io.lettuce.core.RedisURI.create("redis-sentinel://127.0.0.1:26379,10.0.0.2:26379/0#mymaster"))).isTrue();
    assertThat(RedisStore.addressesOnly(io.lettuce.core.RedisURI.create("redis-sentinel://127.0.0.1:26379,sentinel-b:26379/0#mymaster"))).isFalse();
  }

  @Test
  void putsEveryKeyUnderItsPrefix() throws Exception {
    byte[] key = entryKey();
    join(store.put(key, bytes("rows"), Duration.ofMinutes(1)));
    join(store.tokens(List.of(Keys.globalEpoch())));

    String keys = RedisServerProcess.cli(SHARED_REDIS_PORT, "--scan", "--pattern", prefix + "*");
    assertThat(keys.lines()).containsExactlyInAnyOrder(
        prefix + new String(key, java.nio.charset.StandardCharsets.UTF_8), prefix + "pgmemo:g");
    String ttl = RedisServerProcess.cli(SHARED_REDIS_PORT, "PTTL",
        prefix + new String(key, java.nio.charset.StandardCharsets.UTF_8));
    assertThat(Long.parseLong(ttl)).isBetween(1L, 60_000L);
    assertThat(RedisServerProcess.cli(SHARED_REDIS_PORT, "PTTL", prefix + "pgmemo:g")).isEqualTo("-1");
  }

  @Test
  void invalidateAllDeletesThisNamespacesEntriesOnly() throws Exception {
    RedisStore other = connected(new RedisStore(SHARED_REDIS, prefix + "other:", Duration.ofSeconds(2)));
    try {
      byte[] mine = entryKey();
      byte[] theirs = entryKey();
      join(store.put(mine, bytes("rows"), Duration.ofMinutes(1)));
      join(other.put(theirs, bytes("rows"), Duration.ofMinutes(1)));

      join(store.invalidateAll());

      await().atMost(Duration.ofSeconds(3))
          .until(() -> join(store.lookup(mine, List.of())).entry() == null);
      assertThat(join(other.lookup(theirs, List.of())).entry()).isEqualTo(bytes("rows"));
    } finally {
      other.close();
    }
  }

  @Test
  void describesTheServerWithoutCredentials() {
    RedisStore withPassword = new RedisStore("redis://:secret@127.0.0.1:6379/2", prefix, Duration.ofMillis(200));
    try {
      assertThat(withPassword.describe()).isEqualTo("redis://127.0.0.1:6379/2");
      assertThat(store.describe()).isEqualTo(SHARED_REDIS);
    } finally {
      withPassword.close();
    }
  }

  static RedisStore connected(RedisStore store) {
    await().atMost(Duration.ofSeconds(5)).until(store::isConnected);
    return store;
  }
}
