package dev.pgmemo.cache.store;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Redis deployments of a test's own, on free ports, without persistence: a Redis Cluster of three masters, or
 * a master watched by one Sentinel. {@link #close()} kills exactly the processes it started and deletes their
 * working directory.
 */
public final class RedisDeployment implements AutoCloseable {
  private final Path dir;
  private final List<Process> processes = new ArrayList<>();
  private final List<Integer> ports = new ArrayList<>();
  private String uri;

  private RedisDeployment() throws IOException {
    this.dir = Files.createTempDirectory("pgmemo-redis-test");
  }

  /** Three masters sharing the 16384 slots, created with {@code redis-cli --cluster create}, state ok. */
  public static RedisDeployment cluster() throws IOException, InterruptedException {
    RedisDeployment d = new RedisDeployment();
    try {
      List<String> create = new ArrayList<>(List.of("redis-cli", "--cluster", "create"));
      for (int i = 0; i < 3; i++) {
        int port = clusterPort();
        d.startServer(port, "--cluster-enabled", "yes", "--cluster-config-file", "nodes-" + port + ".conf",
            "--cluster-node-timeout", "5000");
        create.add("127.0.0.1:" + port);
      }
      create.addAll(List.of("--cluster-replicas", "0", "--cluster-yes"));
      String out = d.run(create, 30);
      if (!out.contains("All 16384 slots covered")) {
        throw new IOException("redis-cli --cluster create failed:\n" + out);
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      for (int port : d.ports) {
        while (!RedisServerProcess.cli(port, "CLUSTER", "INFO").contains("cluster_state:ok")) {
          if (System.nanoTime() > deadline) {
            throw new IOException("cluster not ok on port " + port);
          }
          Thread.sleep(50);
        }
      }
      d.uri = "redis-cluster://127.0.0.1:" + d.ports.get(0) + ",127.0.0.1:" + d.ports.get(1);
      return d;
    } catch (IOException | InterruptedException | RuntimeException e) {
      d.close();
      throw e;
    }
  }

  /** A master, and one Sentinel watching it under the name {@code mymaster}. */
  public static RedisDeployment sentinel() throws IOException, InterruptedException {
    RedisDeployment d = new RedisDeployment();
    try {
      int master = freePort();
      d.startServer(master);
      int sentinelPort = freePort();
      Path conf = d.dir.resolve("sentinel.conf");
      Files.writeString(conf, "port " + sentinelPort + "\nbind 127.0.0.1\ndir " + d.dir + "\n"
          + "sentinel monitor mymaster 127.0.0.1 " + master + " 1\n"
          + "sentinel down-after-milliseconds mymaster 1000\n");
      d.start(List.of("redis-server", conf.toString(), "--sentinel"), sentinelPort);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (!RedisServerProcess.cli(sentinelPort, "SENTINEL", "get-master-addr-by-name", "mymaster")
          .contains(Integer.toString(master))) {
        if (System.nanoTime() > deadline) {
          throw new IOException("sentinel on port " + sentinelPort + " does not know mymaster");
        }
        Thread.sleep(50);
      }
      d.uri = "redis-sentinel://127.0.0.1:" + sentinelPort + "#mymaster";
      return d;
    } catch (IOException | InterruptedException | RuntimeException e) {
      d.close();
      throw e;
    }
  }

  /** The {@code cache.store} URL of this deployment. */
  public String uri() {
    return uri;
  }

  /** The data nodes (cluster masters, or the master), to inspect with redis-cli. */
  public List<Integer> dataPorts() {
    return uri.startsWith("redis-sentinel") ? ports.subList(0, 1) : List.copyOf(ports);
  }

  private void startServer(int port, String... extra) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of("redis-server", "--port", Integer.toString(port),
        "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", dir.toString()));
    command.addAll(List.of(extra));
    start(command, port);
  }

  private void start(List<String> command, int port) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(dir.resolve("redis-" + port + ".log").toFile()).start();
    processes.add(p);
    ports.add(port);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (System.nanoTime() < deadline) {
      try (Socket ignored = new Socket("127.0.0.1", port)) {
        return;
      } catch (IOException notYet) {
        if (!p.isAlive()) {
          throw new IOException("redis-server exited with " + p.exitValue() + " on port " + port + ": "
              + Files.readString(dir.resolve("redis-" + port + ".log")));
        }
        Thread.sleep(10);
      }
    }
    throw new IOException("redis-server did not listen on port " + port);
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /** A free port below 55535 whose cluster bus port (port + 10000) is free too. */
  private static int clusterPort() throws IOException {
    for (int attempt = 0; attempt < 100; attempt++) {
      int port = ThreadLocalRandom.current().nextInt(20_000, 45_000);
      if (isFree(port) && isFree(port + 10_000)) {
        return port;
      }
    }
    throw new IOException("no free port pair for a cluster node");
  }

  private static boolean isFree(int port) {
    try (ServerSocket s = new ServerSocket(port, 1, java.net.InetAddress.getLoopbackAddress())) {
      return true;
    } catch (IOException taken) {
      return false;
    }
  }

  private String run(List<String> command, int timeoutSeconds) throws IOException, InterruptedException {
    Path out = Files.createTempFile(dir, "cli", ".out");
    Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile()).start();
    if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException("timed out: " + command);
    }
    return Files.readString(out, StandardCharsets.UTF_8);
  }

  @Override
  public void close() throws IOException, InterruptedException {
    for (Process p : processes) {
      p.destroyForcibly();
    }
    for (Process p : processes) {
      p.waitFor(5, TimeUnit.SECONDS);
    }
    processes.clear();
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path f : files.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(f);
      }
    }
  }
}
