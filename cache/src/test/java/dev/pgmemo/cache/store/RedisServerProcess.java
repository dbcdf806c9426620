package dev.pgmemo.cache.store;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A redis-server of the test's own, on a free port, without persistence, that the test may kill,
 * stop (SIGSTOP) and flush without touching anyone else's Redis.
 */
final class RedisServerProcess implements AutoCloseable {

  private final int port;
  private Process process;

  private RedisServerProcess(int port) {
    this.port = port;
  }

  static RedisServerProcess onFreePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      s.setReuseAddress(true);
      return new RedisServerProcess(s.getLocalPort());
    }
  }

  int port() {
    return port;
  }

  String uri() {
    return "redis://127.0.0.1:" + port;
  }

  /** Starts the server and waits until it accepts connections. */
  RedisServerProcess start() throws IOException, InterruptedException {
    process = new ProcessBuilder("redis-server", "--port", Integer.toString(port),
        "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no")
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
        .start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (System.nanoTime() < deadline) {
      try (Socket ignored = new Socket("127.0.0.1", port)) {
        return this;
      } catch (IOException notYet) {
        if (!process.isAlive()) {
          throw new IOException("redis-server exited with " + process.exitValue() + " on port " + port);
        }
        Thread.sleep(10);
      }
    }
    throw new IOException("redis-server did not listen on port " + port);
  }

  /** SIGKILL: the server and all its data are gone. */
  void kill() throws InterruptedException {
    if (process != null) {
      process.destroyForcibly();
      process.waitFor(5, TimeUnit.SECONDS);
      process = null;
    }
  }

  /** SIGSTOP: connections stay open, nothing is answered, data is kept. */
  void pause() throws IOException, InterruptedException {
    signal("STOP");
  }

  /** SIGCONT after {@link #pause()}. */
  void resume() throws IOException, InterruptedException {
    signal("CONT");
  }

  /** Runs redis-cli against this server and returns its output. */
  String cli(String... args) throws IOException, InterruptedException {
    return cli(port, args);
  }

  static String cli(int port, String... args) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of("redis-cli", "-p", Integer.toString(port)));
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    byte[] out = p.getInputStream().readAllBytes();
    if (!p.waitFor(5, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException("redis-cli timed out: " + command);
    }
    return new String(out, StandardCharsets.UTF_8).trim();
  }

  /** Deletes every key starting with {@code prefix} on the Redis at {@code port} (test cleanup). */
  static void deleteKeys(int port, String prefix) throws IOException, InterruptedException {
    String keys = cli(port, "--scan", "--pattern", prefix + "*");
    List<String> batch = new ArrayList<>();
    for (String key : keys.split("\n")) {
      if (!key.isBlank()) {
        batch.add(key);
      }
      if (batch.size() == 500) {
        del(port, batch);
      }
    }
    del(port, batch);
  }

  private static void del(int port, List<String> keys) throws IOException, InterruptedException {
    if (!keys.isEmpty()) {
      List<String> args = new ArrayList<>(List.of("DEL"));
      args.addAll(keys);
      cli(port, args.toArray(String[]::new));
      keys.clear();
    }
  }

  private void signal(String name) throws IOException, InterruptedException {
    Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).start();
    kill.waitFor(5, TimeUnit.SECONDS);
  }

  @Override
  public void close() throws InterruptedException {
    if (process != null) {
      process.destroyForcibly(); // SIGKILL works on a stopped process too
      process.waitFor(5, TimeUnit.SECONDS);
      process = null;
    }
  }

  static Duration since(long startNanos) {
    return Duration.ofNanos(System.nanoTime() - startNanos);
  }
}
