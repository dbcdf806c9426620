package dev.pgmemo.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * A private PostgreSQL 15 cluster on a free port, for tests that need server settings the shared instance
 * does not have (SCRAM authentication). initdb and pg_ctl run as the postgres OS user; {@link #close} stops
 * exactly this cluster and deletes its directory.
 */
final class OwnPostgres implements AutoCloseable {
    private static final String BIN = "/usr/lib/postgresql/15/bin/";

    final int port;
    final Path dir;
    final Path data;

    private OwnPostgres(int port, Path dir) {
        this.port = port;
        this.dir = dir;
        this.data = dir.resolve("data");
    }

    /**
     * initdb with SCRAM for every connection (local and host) and {@code password} for the superuser
     * {@code postgres}, then starts it on 127.0.0.1 with its socket in its own directory.
     */
    static OwnPostgres startScram(String password) throws IOException {
        Path dir = Files.createTempDirectory("pgmemo-it-pg");
        OwnPostgres pg = new OwnPostgres(ItEnv.freePort(), dir);
        try {
            Files.writeString(dir.resolve("pwfile"), password + "\n");
            Cmd.ok(Duration.ofSeconds(10), "chown", "-R", "postgres:postgres", dir.toString());
            asPostgres(Duration.ofSeconds(120), BIN + "initdb", "-D", pg.data.toString(), "-U", "postgres",
                    "--auth=scram-sha-256", "--pwfile=" + dir.resolve("pwfile"), "--no-sync", "-E", "UTF8",
                    "--locale=C");
            Files.writeString(pg.data.resolve("pg_hba.conf"), """
                    local all all scram-sha-256
                    host all all 127.0.0.1/32 scram-sha-256
                    """);
            asPostgres(Duration.ofSeconds(60), BIN + "pg_ctl", "-D", pg.data.toString(), "-w", "-t", "50",
                    "-l", dir.resolve("server.log").toString(), "-o",
                    "-p " + pg.port + " -k " + dir + " -c listen_addresses=127.0.0.1"
                            + " -c password_encryption=scram-sha-256 -c fsync=off -c shared_buffers=16MB"
                            + " -c max_connections=20",
                    "start");
            return pg;
        } catch (RuntimeException | Error e) {
            pg.close();
            throw e;
        }
    }

    String jdbcUrl(String database) {
        return "jdbc:postgresql://127.0.0.1:" + port + "/" + database;
    }

    @Override
    public void close() {
        if (Files.exists(data.resolve("postmaster.pid"))) {
            Cmd.run(Duration.ofSeconds(60), null, null, null, List.of("runuser", "-u", "postgres", "--",
                    BIN + "pg_ctl", "-D", data.toString(), "-m", "fast", "-w", "stop"));
        }
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // best effort in a temp directory
        }
    }

    private static void asPostgres(Duration timeout, String... command) {
        List<String> cmd = new java.util.ArrayList<>(List.of("runuser", "-u", "postgres", "--"));
        cmd.addAll(List.of(command));
        Cmd.Result r = Cmd.run(timeout, null, null, null, cmd);
        if (r.exitCode() != 0) {
            throw new AssertionError("command failed: " + r.describe());
        }
    }
}
