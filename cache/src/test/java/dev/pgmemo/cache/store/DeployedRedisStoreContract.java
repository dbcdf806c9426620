package dev.pgmemo.cache.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The store contract against a Redis deployment of the test class's own ({@link RedisDeployment}), started once
 * for the class, with a key namespace per test.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class DeployedRedisStoreContract extends CacheStoreContract {

  protected RedisDeployment deployment;
  /** The key namespace of the running test's stores. */
  protected String prefix;

  /** Starts the deployment the class's tests run against. */
  protected abstract RedisDeployment startDeployment() throws Exception;

  @BeforeAll
  void startTheDeployment() throws Exception {
    deployment = startDeployment();
  }

  @AfterAll
  void stopTheDeployment() throws Exception {
    if (deployment != null) {
      deployment.close();
    }
  }

  @Override
  protected CacheStore openStore() {
    prefix = "pgmemo-test-" + UUID.randomUUID() + ":";
    return open();
  }

  @Override
  protected CacheStore openPeer() {
    return open();
  }

  /** Another store on the deployment, in the running test's namespace. */
  private RedisStore open() {
    return RedisStoreTest.connected(new RedisStore(deployment.uri(), prefix, Duration.ofSeconds(2)));
  }

  @Test
  void connectingIsNotMistakenForALossOfWrites() throws Exception {
    ResilientStore resilient = new ResilientStore(open(), Duration.ofSeconds(2));
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
