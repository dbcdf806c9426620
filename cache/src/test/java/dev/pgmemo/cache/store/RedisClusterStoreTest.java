package dev.pgmemo.cache.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The contract against a Redis Cluster of three masters of this test's own ({@code redis-cluster://}). */
class RedisClusterStoreTest extends CacheStoreContract {

  private static RedisDeployment cluster;

  private final String prefix = "pgmemo-test-" + UUID.randomUUID() + ":";

  @BeforeAll
  static void startCluster() throws Exception {
    cluster = RedisDeployment.cluster();
  }

  @AfterAll
  static void stopCluster() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Override
  protected CacheStore openStore() {
    return RedisStoreTest.connected(new RedisStore(cluster.uri(), prefix, Duration.ofSeconds(2)));
  }

  @Override
  protected CacheStore openPeer() {
    return RedisStoreTest.connected(new RedisStore(cluster.uri(), prefix, Duration.ofSeconds(2)));
  }

  @Test
  void entriesAndTokensLiveOnEveryNodeAndOneLookupStillSeesThemAll() throws Exception {
    // 30 tables' tokens and an entry that records them all: the keys hash to slots of all three masters, and
    // a lookup (MGET over many slots) still returns the entry with every token in order.
    java.util.List<byte[]> tokenKeys = new java.util.ArrayList<>();
    for (int i = 0; i < 30; i++) {
      tokenKeys.add(Keys.tableToken("db", "public", "t" + i));
    }
    java.util.List<byte[]> tokens = join(store.tokens(tokenKeys));
    byte[] key = entryKey();
    join(store.put(key, new CacheEntry(tokens, bytes("rows")).encode(), Duration.ofMinutes(1)));

    Lookup found = join(store.lookup(key, tokenKeys));
    assertThat(CacheEntry.decode(found.entry()).matches(found.tokens())).isTrue();

    join(store.bump(tokenKeys.subList(29, 30)));
    Lookup after = join(store.lookup(key, tokenKeys));
    assertThat(after.tokens().subList(0, 29)).containsExactlyElementsOf(found.tokens().subList(0, 29));
    assertThat(CacheEntry.decode(after.entry()).matches(after.tokens())).isFalse();

    int nodesWithKeys = 0;
    for (int port : cluster.dataPorts()) {
      if (!RedisServerProcess.cli(port, "--scan", "--pattern", prefix + "*").isBlank()) {
        nodesWithKeys++;
      }
    }
    assertThat(nodesWithKeys).isEqualTo(3);
  }

  @Test
  void describesTheSeedNodes() {
    assertThat(store.describe()).isEqualTo(cluster.uri());
    assertThat(RedisStore.clusterSeeds("rediss-cluster://app:pw@n1:7000,n2")).hasSize(2)
        .allSatisfy(u -> assertThat(u.isSsl()).isTrue())
        .allSatisfy(u -> assertThat(u.getCredentialsProvider()).isNotNull())
        .extracting(u -> u.getHost() + ":" + u.getPort()).containsExactly("n1:7000", "n2:6379");
    assertThat(RedisStore.clusterSeeds("redis://n1:7000")).isNull();
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
