package dev.pgmemo.cache.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The same contract over Redis's Unix-domain socket ({@code redis-socket:///path}), with the connections on
 * the caller's loops: a redis-server of this test's own that listens on a socket only.
 */
class RedisSocketStoreOnEventLoopsTest extends RedisStoreOnEventLoopsTest {

  private static Path dir;
  private static RedisServerProcess server;

  @BeforeAll
  static void startServer() throws Exception {
    dir = Files.createTempDirectory("pgmemo-redis-sock");
    server = RedisServerProcess.onUnixSocket(dir.resolve("redis.sock")).start();
  }

  @AfterAll
  static void stopServer() throws Exception {
    server.close();
    Files.deleteIfExists(dir.resolve("redis.sock"));
    Files.deleteIfExists(dir);
  }

  @Override
  protected String redisUri() {
    return server.uri();
  }

  @Override
  protected void deleteKeys(String prefix) {
    // The server is this class's own and goes away with it.
  }

  @Test
  void everyConnectionIsOnTheSocket() throws Exception {
    assertThat(redisUri()).startsWith("redis-socket:///");
    // CLIENT LIST shows a Unix-socket client with addr=/path:0; no client can have come over TCP (no port).
    String clients = server.cli("CLIENT", "LIST");
    assertThat(clients.lines().filter(l -> !l.contains("cmd=client")))
        .isNotEmpty()
        .allSatisfy(l -> assertThat(l).contains("addr=" + dir.resolve("redis.sock")));
    assertThat(server.cli("CONFIG", "GET", "port")).endsWith("\n0");
  }
}
