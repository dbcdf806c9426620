package dev.pgmemo.cache.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The contract against a master found through a Sentinel of this test's own ({@code redis-sentinel://}). */
class RedisSentinelStoreTest extends CacheStoreContract {

  private static RedisDeployment sentinel;

  private final String prefix = "pgmemo-test-" + UUID.randomUUID() + ":";

  @BeforeAll
  static void startSentinel() throws Exception {
    sentinel = RedisDeployment.sentinel();
  }

  @AfterAll
  static void stopSentinel() throws Exception {
    if (sentinel != null) {
      sentinel.close();
    }
  }

  @Override
  protected CacheStore openStore() {
    return RedisStoreTest.connected(new RedisStore(sentinel.uri(), prefix, Duration.ofSeconds(2)));
  }

  @Override
  protected CacheStore openPeer() {
    return RedisStoreTest.connected(new RedisStore(sentinel.uri(), prefix, Duration.ofSeconds(2)));
  }

  @Test
  void writesGoToTheMasterTheSentinelNames() throws Exception {
    byte[] key = entryKey();
    join(store.put(key, bytes("rows"), Duration.ofMinutes(1)));
    int master = sentinel.dataPorts().get(0);
    assertThat(RedisServerProcess.cli(master, "GET", prefix + new String(key, java.nio.charset.StandardCharsets.UTF_8)))
        .isEqualTo("rows");
    assertThat(store.describe()).startsWith("redis-sentinel://127.0.0.1:").endsWith("#mymaster");
    assertThat(join(store.lookup(key, List.of())).entry()).isEqualTo(bytes("rows"));
  }

  @Test
  void connectingIsNotMistakenForALossOfWrites() throws Exception {
    ResilientStore resilient = new ResilientStore(openStore(), Duration.ofSeconds(2));
    try {
      join(resilient.lookup(entryKey(), tokenKeys("a")));
      Thread.sleep(500); // events of the first connection, if any, have arrived
      assertThat(resilient.lostInvalidations()).isZero();
      join(resilient.lookup(entryKey(), tokenKeys("a")));
    } finally {
      resilient.close();
    }
  }
}
