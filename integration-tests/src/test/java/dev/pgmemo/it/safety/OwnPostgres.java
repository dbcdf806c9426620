package dev.pgmemo.it.safety;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A PostgreSQL 15 cluster of this test's own (trust authentication, superuser postgres) on a free port, so
 * that it can be restarted under pgmemo without touching the shared server. {@link #close} stops exactly
 * this cluster and deletes its directory.
 */
final class OwnPostgres implements AutoCloseable {
    private static final String BIN = "/usr/lib/postgresql/15/bin/";

    final int port;
    private final Path dir;
    private final Path data;

    private OwnPostgres(int port, Path dir) {
        this.port = port;
        this.dir = dir;
        this.data = dir.resolve("data");
    }

    static OwnPostgres start() throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("safety-pg");
        OwnPostgres pg = new OwnPostgres(OwnRedis.freePort(), dir);
        try {
            run(60, "chown", "-R", "postgres:postgres", dir.toString());
            asPostgres(120, BIN + "initdb", "-D", pg.data.toString(), "-A", "trust", "-U", "postgres", "--no-sync",
                    "-E", "UTF8", "--locale=C");
            pg.ctl("start");
            return pg;
        } catch (IOException | InterruptedException | RuntimeException e) {
            pg.close();
            throw e;
        }
    }

    /** {@code pg_ctl restart -m fast}: every backend is terminated, the server is back when this returns. */
    void restartFast() throws IOException, InterruptedException {
        asPostgres(120, BIN + "pg_ctl", "-D", data.toString(), "-w", "-t", "100", "-m", "fast", "restart",
                "-l", dir.resolve("server.log").toString(), "-o", options());
    }

    private void ctl(String action) throws IOException, InterruptedException {
        asPostgres(120, BIN + "pg_ctl", "-D", data.toString(), "-w", "-t", "100", "-l",
                dir.resolve("server.log").toString(), "-o", options(), action);
    }

    private String options() {
        return "-p " + port + " -k " + dir + " -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB"
                + " -c max_connections=20";
    }

    @Override
    public void close() {
        try {
            if (Files.exists(data.resolve("postmaster.pid"))) {
                asPostgres(120, BIN + "pg_ctl", "-D", data.toString(), "-w", "-m", "fast", "stop");
            }
        } catch (IOException | InterruptedException | RuntimeException ignored) {
            // the directory goes anyway
        }
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // best effort in a temp directory
        }
    }

    private static void asPostgres(int timeoutSeconds, String... command) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("runuser", "-u", "postgres", "--"));
        cmd.addAll(List.of(command));
        run(timeoutSeconds, cmd.toArray(String[]::new));
    }

    private static void run(int timeoutSeconds, String... command) throws IOException, InterruptedException {
        Path out = Files.createTempFile("safety-cmd", ".out");
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile()).start();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("timed out: " + String.join(" ", command));
            }
            if (p.exitValue() != 0) {
                throw new IOException("failed (" + p.exitValue() + "): " + String.join(" ", command) + "\n"
                        + Files.readString(out));
            }
        } finally {
            Files.deleteIfExists(out);
        }
    }
}
