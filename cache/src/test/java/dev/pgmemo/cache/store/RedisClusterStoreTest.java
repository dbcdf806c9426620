package dev.pgmemo.cache.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The contract against a Redis Cluster of three masters of this test's own ({@code redis-cluster://}). */
class RedisClusterStoreTest extends DeployedRedisStoreContract {

  @Override
  protected RedisDeployment startDeployment() throws Exception {
    return RedisDeployment.cluster();
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
    for (int port : deployment.dataPorts()) {
      if (!RedisServerProcess.cli(port, "--scan", "--pattern", prefix + "*").isBlank()) {
        nodesWithKeys++;
      }
    }
    assertThat(nodesWithKeys).isEqualTo(3);
  }

  @Test
  void describesTheSeedNodes() {
    assertThat(store.describe()).isEqualTo(deployment.uri());
    assertThat(RedisStore.clusterSeeds("rediss-cluster://app:pw@n1:7000,n2")).hasSize(2)
        .allSatisfy(u -> assertThat(u.isSsl()).isTrue())
        .allSatisfy(u -> assertThat(u.getCredentialsProvider()).isNotNull())
        .extracting(u -> u.getHost() + ":" + u.getPort()).containsExactly("n1:7000", "n2:6379");
    assertThat(RedisStore.clusterSeeds("redis://n1:7000")).isNull();
  }
}
