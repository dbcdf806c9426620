package dev.pgmemo.cache.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The contract against a master found through a Sentinel of this test's own ({@code redis-sentinel://}). */
class RedisSentinelStoreTest extends DeployedRedisStoreContract {

  @Override
  protected RedisDeployment startDeployment() throws Exception {
    return RedisDeployment.sentinel();
  }

  @Test
  void writesGoToTheMasterTheSentinelNames() throws Exception {
    byte[] key = entryKey();
    join(store.put(key, bytes("rows"), Duration.ofMinutes(1)));
    int master = deployment.dataPorts().get(0);
    assertThat(RedisServerProcess.cli(master, "GET", prefix + new String(key, java.nio.charset.StandardCharsets.UTF_8)))
        .isEqualTo("rows");
    assertThat(store.describe()).startsWith("redis-sentinel://127.0.0.1:").endsWith("#mymaster");
    assertThat(join(store.lookup(key, List.of())).entry()).isEqualTo(bytes("rows"));
  }
}
