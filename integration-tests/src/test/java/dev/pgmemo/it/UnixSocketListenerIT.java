package dev.pgmemo.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pgmemo.proxy.PgmemoServer;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * pgmemo listening on a Unix-domain socket too ({@code unix_socket_dir}), as PostgreSQL and PgBouncer do:
 * psql and pgbench reach it with {@code -h <dir>}, on every socket transport; psql's Ctrl-C cancels over the
 * socket; TLS is refused there as PostgreSQL refuses it; the socket file gets its mode, replaces a stale file,
 * refuses to take over a live one, and goes away when pgmemo stops.
 */
@ExtendWith(LeakWatch.class)
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class UnixSocketListenerIT {

    @TempDir
    Path dir;

    @BeforeAll
    static void createTable() throws Exception {
        ItEnv.execDirect("DROP TABLE IF EXISTS it_unix_listen");
        ItEnv.execDirect("CREATE TABLE it_unix_listen (id int PRIMARY KEY, v text)");
        ItEnv.execDirect("INSERT INTO it_unix_listen VALUES (1, 'one')");
    }

    @AfterAll
    static void dropTable() throws Exception {
        ItEnv.execDirect("DROP TABLE IF EXISTS it_unix_listen");
    }

    private String yaml(String extra) {
        return ItEnv.baseYaml().replace("  enabled: false\n", "  default_ttl: 60s\n")
                + "unix_socket_dir: " + dir + "\n" + extra;
    }

    private Cmd.Result psql(PgmemoServer pgmemo, String... args) {
        List<String> cmd = new ArrayList<>(List.of("psql", "-X", "-h", dir.toString(), "-p",
                String.valueOf(pgmemo.port()), "-U", ItEnv.USER, "-d", ItEnv.DB));
        cmd.addAll(List.of(args));
        return Cmd.run(Duration.ofSeconds(45), dir, null, null, cmd);
    }

    @ParameterizedTest
    @MethodSource("dev.pgmemo.it.Transports#all")
    void psqlAndPgbenchConnectThroughTheSocket(String transport) throws Exception {
        try (PgmemoServer pgmemo = Transports.startOn(transport, () -> ItEnv.startPgmemo(yaml("")))) {
            assertThat(pgmemo.transportName()).isEqualTo(Transports.expected(transport));
            Path socket = dir.resolve(".s.PGSQL." + pgmemo.port());
            assertThat(pgmemo.unixSocket()).isEqualTo(socket);
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(socket))).isEqualTo("rwxrwxrwx");
            assertThat(AdminHttp.get(pgmemo.adminPort(), "/status").body()).contains("\"unix_socket\":\"" + socket + "\"");

            Cmd.Result info = psql(pgmemo, "-c", "\\conninfo");
            assertThat(info.exitCode()).as(info.describe()).isZero();
            assertThat(info.stdout()).contains("via socket in \"" + dir + "\"").contains("port \"" + pgmemo.port() + "\"");

            // A read, a write through the socket, the read again: cached, then invalidated.
            String read = "SELECT v FROM it_unix_listen WHERE id = 1";
            String script = read + ";\n" + read + ";\nUPDATE it_unix_listen SET v = '" + transport + "' WHERE id = 1;\n"
                    + read + ";\nUPDATE it_unix_listen SET v = 'one' WHERE id = 1;\n";
            Cmd.Result r = Cmd.run(Duration.ofSeconds(45), dir, null, script, List.of("psql", "-X", "-At", "-v",
                    "ON_ERROR_STOP=1", "-h", dir.toString(), "-p", String.valueOf(pgmemo.port()), "-U", ItEnv.USER,
                    "-d", ItEnv.DB));
            assertThat(r.exitCode()).as(r.describe()).isZero();
            assertThat(r.stdout().lines().toList()).containsExactly("one", "one", "UPDATE 1", transport, "UPDATE 1");
            assertThat(AdminHttp.metric(pgmemo.adminPort(), "pgmemo_cache_hits_total", null)).isGreaterThanOrEqualTo(1);

            Cmd.Result bench = Cmd.run(Duration.ofSeconds(60), dir, null, null, List.of("pgbench", "-n", "-h",
                    dir.toString(), "-p", String.valueOf(pgmemo.port()), "-U", ItEnv.USER, "-c", "4", "-j", "2", "-t",
                    "200", "-f", writeScript("SELECT v FROM it_unix_listen WHERE id = 1;\n").toString(), ItEnv.DB));
            assertThat(bench.exitCode()).as(bench.describe()).isZero();
            assertThat(bench.stdout()).contains("number of transactions actually processed: 800/800")
                    .contains("number of failed transactions: 0");
        }
        assertThat(dir.resolve(".s.PGSQL.0")).doesNotExist();
        try (var files = Files.list(dir)) {
            assertThat(files.filter(f -> f.getFileName().toString().startsWith(".s.PGSQL.")))
                    .as("the socket file goes when pgmemo stops").isEmpty();
        }
    }

    private Path writeScript(String sql) throws IOException {
        return Files.writeString(dir.resolve("bench.sql"), sql);
    }

    @Test
    void ctrlCInPsqlCancelsOverTheSocket() throws Exception {
        try (PgmemoServer pgmemo = ItEnv.startPgmemo(yaml(""))) {
            ProcessBuilder pb = new ProcessBuilder("psql", "-X", "-h", dir.toString(), "-p",
                    String.valueOf(pgmemo.port()), "-U", ItEnv.USER, "-d", ItEnv.DB, "-c",
                    "SELECT pg_sleep(20) /* it_unix_listen_cancel */").redirectErrorStream(true);
            pb.environment().keySet().removeIf(k -> k.startsWith("PG"));
            Process psql = pb.start();
            try (Connection watcher = ItEnv.direct()) {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (ItEnv.queryLong(watcher, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                        + " AND query LIKE '%it_unix_listen_cancel%' AND pid <> pg_backend_pid()") == 0) {
                    assertThat(System.nanoTime()).as("the query started").isLessThan(deadline);
                    Thread.sleep(20);
                }
            }
            long start = System.nanoTime();
            new ProcessBuilder("kill", "-INT", Long.toString(psql.pid())).start().waitFor(5, TimeUnit.SECONDS);
            assertThat(psql.waitFor(10, TimeUnit.SECONDS)).as("psql ended after Ctrl-C").isTrue();
            String out = new String(psql.getInputStream().readAllBytes());
            assertThat(out).contains("canceling statement due to user request");
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
        }
    }

    @Test
    void tlsIsRefusedOnTheSocketAndTheModeIsApplied() throws Exception {
        Path certs = Files.createDirectories(dir.resolve("certs"));
        Cmd.ok(Duration.ofSeconds(30), "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=localhost", "-keyout", certs.resolve("server.key").toString(), "-out",
                certs.resolve("server.crt").toString());
        String tls = "tls:\n  cert: " + certs.resolve("server.crt") + "\n  key: " + certs.resolve("server.key") + "\n"
                + "unix_socket_mode: \"0770\"\n";
        try (PgmemoServer pgmemo = ItEnv.startPgmemo(yaml(tls))) {
            Path socket = pgmemo.unixSocket();
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(socket))).isEqualTo("rwxrwx---");
            try (SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
                ByteBuffer sslRequest = ByteBuffer.allocate(8).putInt(8).putInt(80877103).flip();
                c.write(sslRequest);
                ByteBuffer answer = ByteBuffer.allocate(1);
                assertThat(c.read(answer)).isEqualTo(1);
                assertThat((char) answer.get(0)).as("TLS over a Unix socket, as PostgreSQL: N").isEqualTo('N');
            }
            // The same server does TLS over TCP.
            Cmd.Result r = Cmd.run(Duration.ofSeconds(30), dir, null, null, List.of("psql", "-X", "-At", "-d",
                    "host=127.0.0.1 port=" + pgmemo.port() + " user=" + ItEnv.USER + " dbname=" + ItEnv.DB
                            + " sslmode=require", "-c", "\\conninfo"));
            assertThat(r.exitCode()).as(r.describe()).isZero();
            assertThat(r.stdout()).as(r.describe()).contains("SSL connection (protocol: TLS");
            Cmd.Result viaSocket = psql(pgmemo, "-At", "-c", "SELECT 'over the socket'");
            assertThat(viaSocket.stdout().trim()).as(viaSocket.describe()).isEqualTo("over the socket");
        }
    }

    @Test
    void aStaleSocketFileIsReplacedALiveOneIsNot() throws Exception {
        int port = ItEnv.freePort();
        Path socket = dir.resolve(".s.PGSQL." + port);
        String yaml = yaml("").replaceFirst("listen: 127.0.0.1:0", "listen: 127.0.0.1:" + port);
        // A stale file: a socket bound and closed (the JDK leaves the file), as after a crash.
        ServerSocketChannel.open(StandardProtocolFamily.UNIX).bind(UnixDomainSocketAddress.of(socket)).close();
        assertThat(socket).exists();
        try (PgmemoServer pgmemo = ItEnv.startPgmemo(yaml)) {
            assertThat(psql(pgmemo, "-At", "-c", "SELECT 1").stdout().trim()).isEqualTo("1");
        }
        assertThat(socket).doesNotExist();

        // A live one: another server accepts there; pgmemo does not start, and leaves it alone.
        try (ServerSocketChannel other = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            other.bind(UnixDomainSocketAddress.of(socket));
            assertThatThrownBy(() -> ItEnv.startPgmemo(yaml)).hasStackTraceContaining(
                    "cannot listen on " + socket + ": another server accepts connections on it");
            assertThat(socket).exists();
            assertThat(ItEnv.accepts(port)).as("the TCP listener was closed again").isFalse();
        } finally {
            Files.deleteIfExists(socket);
        }

        Files.writeString(socket, "not a socket");
        try {
            assertThatThrownBy(() -> ItEnv.startPgmemo(yaml)).hasStackTraceContaining(
                    "cannot listen on " + socket + ": a file that is not a socket is in the way");
            assertThat(Files.readString(socket)).isEqualTo("not a socket");
        } finally {
            Files.deleteIfExists(socket);
        }
    }
}
