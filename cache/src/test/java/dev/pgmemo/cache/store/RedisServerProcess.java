package dev.pgmemo.cache.store;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A redis-server of the test's own, on a free port (or only on a Unix socket), without persistence, that the
 * test may kill, stop (SIGSTOP) and flush without touching anyone else's Redis.
 */
final class RedisServerProcess implements AutoCloseable {

  private final int port;
  /** The Unix socket it listens on instead of TCP; null on TCP. */
  private final Path socket;
  private Process process;

  private RedisServerProcess(int port, Path socket) {
    this.port = port;
    this.socket = socket;
  }

  /** A server listening on {@code socket} only (no TCP port). */
  static RedisServerProcess onUnixSocket(Path socket) {
    return new RedisServerProcess(0, socket);
  }

  static RedisServerProcess onFreePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      s.setReuseAddress(true);
      return new RedisServerProcess(s.getLocalPort(), null);
    }
  }

  int port() {
    return port;
  }

  String uri() {
    return socket != null ? "redis-socket://" + socket : "redis://127.0.0.1:" + port;
  }

  /** Starts the server and waits until it accepts connections. */
  RedisServerProcess start() throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of("redis-server", "--port", Integer.toString(port),
        "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"));
    if (socket != null) {
      command.addAll(List.of("--unixsocket", socket.toString(), "--unixsocketperm", "700"));
    }
    process = new ProcessBuilder(command)
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
        .start();
    String where = socket != null ? "socket " + socket : "port " + port;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (System.nanoTime() < deadline) {
      try {
        if (socket != null) {
          SocketChannel.open(UnixDomainSocketAddress.of(socket)).close();
        } else {
          new Socket("127.0.0.1", port).close();
        }
        return this;
      } catch (IOException notYet) {
        if (!process.isAlive()) {
          throw new IOException("redis-server exited with " + process.exitValue() + " on " + where);
        }
        Thread.sleep(10);
      }
    }
    throw new IOException("redis-server did not listen on " + where);
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
    return socket != null ? run(List.of("redis-cli", "-s", socket.toString()), args) : cli(port, args);
  }

  static String cli(int port, String... args) throws IOException, InterruptedException {
    return run(List.of("redis-cli", "-p", Integer.toString(port)), args);
  }

  private static String run(List<String> cli, String... args) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(cli);
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
