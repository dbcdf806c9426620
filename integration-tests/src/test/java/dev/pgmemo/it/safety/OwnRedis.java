package dev.pgmemo.it.safety;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A redis-server of this test's own on a free port (never the shared one): no persistence, DEBUG enabled.
 * It can be killed, frozen (SIGSTOP), thawed and restarted on the same port; {@link #close} stops exactly it.
 */
final class OwnRedis implements AutoCloseable {
    final int port;
    private final Path log;
    private Process process;

    private OwnRedis(int port, Path log) {
        this.port = port;
        this.log = log;
    }

    static OwnRedis start() throws IOException {
        OwnRedis r = new OwnRedis(freePort(), Files.createTempFile("safety-redis", ".log"));
        r.startProcess();
        return r;
    }

    String url() {
        return "redis://127.0.0.1:" + port;
    }

    long pid() {
        return process.pid();
    }

    /** (Re)starts the server on its port, empty, and waits until it answers PING. */
    void startProcess() throws IOException {
        process = new ProcessBuilder("redis-server", "--port", String.valueOf(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--enable-debug-command", "yes", "--protected-mode", "no")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            try {
                if ("+PONG".equals(command("PING"))) {
                    return;
                }
            } catch (IOException e) {
                if (System.nanoTime() > deadline || !process.isAlive()) {
                    throw new IOException("redis-server on port " + port + " did not start: " + Files.readString(log), e);
                }
            }
            Memo.sleep(20);
        }
    }

    /** SIGKILL, and waits until it is gone. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }

    void freeze() throws IOException, InterruptedException {
        signal("-STOP");
    }

    void thaw() throws IOException, InterruptedException {
        signal("-CONT");
    }

    private void signal(String sig) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("kill", sig, String.valueOf(pid())).redirectErrorStream(true).start();
        if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException("kill " + sig + " " + pid() + " failed");
        }
    }

    /** Starts {@code DEBUG SLEEP seconds} on a connection of its own; the returned thread ends when Redis answers. */
    Thread sleepInBackground(double seconds) {
        Thread t = new Thread(() -> {
            try {
                command(Duration.ofSeconds(30), "DEBUG", "SLEEP", String.valueOf(seconds));
            } catch (IOException ignored) {
                // the test checks timings itself
            }
        }, "redis-debug-sleep");
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** Deletes every key matching {@code pattern}; returns how many. */
    int deleteKeys(String pattern) throws IOException {
        String reply = command(Duration.ofSeconds(10), "EVAL",
                "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) n = n + 1 end return n",
                "0", pattern);
        return Integer.parseInt(reply.substring(1));
    }

    String command(String... args) throws IOException {
        return command(Duration.ofSeconds(2), args);
    }

    /** Sends one RESP command and returns the first line of the reply (e.g. {@code +OK}, {@code :3}). */
    String command(Duration timeout, String... args) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
            s.setSoTimeout((int) timeout.toMillis());
            StringBuilder sb = new StringBuilder("*").append(args.length).append("\r\n");
            for (String a : args) {
                sb.append('$').append(a.getBytes(StandardCharsets.UTF_8).length).append("\r\n").append(a).append("\r\n");
            }
            OutputStream out = s.getOutputStream();
            out.write(sb.toString().getBytes(StandardCharsets.UTF_8));
            out.flush();
            InputStream in = s.getInputStream();
            List<Byte> line = new ArrayList<>();
            int b;
            while ((b = in.read()) != -1 && b != '\r') {
                line.add((byte) b);
            }
            byte[] bytes = new byte[line.size()];
            for (int i = 0; i < bytes.length; i++) {
                bytes[i] = line.get(i);
            }
            return new String(bytes, StandardCharsets.UTF_8);
        }
    }

    @Override
    public void close() {
        if (process != null && process.isAlive()) {
            try {
                thaw();
            } catch (IOException | InterruptedException ignored) {
                // killing it anyway
            }
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        new File(log.toString()).delete();
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress("127.0.0.1", 0));
            return s.getLocalPort();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
