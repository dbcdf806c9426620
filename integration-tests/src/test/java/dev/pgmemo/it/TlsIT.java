package dev.pgmemo.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import dev.pgmemo.proxy.PgmemoServer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Client-facing TLS: pgmemo terminates TLS with its own certificate (upstream stays plain here), verified by
 * pgjdbc (verify-full) and psql; without a tls section pgmemo answers 'N' to SSLRequest like a server
 * without ssl.
 */
@ExtendWith(LeakWatch.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TlsIT {
    @TempDir
    static Path dir;

    private static PgmemoServer withTls;
    private static PgmemoServer withoutTls;
    private static Path caCert;
    private static Path wrongCaCert;

    @BeforeAll
    static void generateCertificatesAndStart() throws IOException {
        caCert = makeCa("ca");
        wrongCaCert = makeCa("wrong-ca");
        Duration t = Duration.ofSeconds(30);
        Cmd.ok(t, "openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", p("server.key"), "-out", p("server.csr"),
                "-subj", "/CN=localhost");
        Files.writeString(dir.resolve("server.ext"), """
                subjectAltName=DNS:localhost,IP:127.0.0.1
                basicConstraints=CA:FALSE
                keyUsage=critical,digitalSignature,keyEncipherment
                extendedKeyUsage=serverAuth
                """);
        Cmd.ok(t, "openssl", "x509", "-req", "-in", p("server.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"),
                "-CAcreateserial", "-out", p("server.crt"), "-days", "2", "-extfile", p("server.ext"));
        assertThat(Files.readString(dir.resolve("server.key"))).startsWith("-----BEGIN PRIVATE KEY-----");

        withTls = ItEnv.startPgmemo(ItEnv.baseYaml() + "tls:\n  cert: " + p("server.crt") + "\n  key: " + p("server.key") + "\n");
        withoutTls = ItEnv.startPgmemo();
    }

    private static Path makeCa(String name) {
        Cmd.ok(Duration.ofSeconds(30), "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                "-keyout", p(name + ".key"), "-out", p(name + ".crt"), "-days", "2", "-subj", "/CN=pgmemo-it-" + name,
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        return dir.resolve(name + ".crt");
    }

    private static String p(String file) {
        return dir.resolve(file).toString();
    }

    @AfterAll
    static void stop() {
        for (PgmemoServer s : new PgmemoServer[] {withTls, withoutTls}) {
            if (s != null) {
                s.stop(Duration.ofSeconds(5));
            }
        }
    }

    private static Connection pgjdbc(String host, int port, String params) throws SQLException {
        return DriverManager.getConnection("jdbc:postgresql://" + host + ":" + port + "/" + ItEnv.DB
                + "?connectTimeout=10&" + params, ItEnv.USER, "");
    }

    private static Cmd.Result psql(String conninfo, String... commands) {
        List<String> cmd = new java.util.ArrayList<>(List.of("psql", "-X", "-At", conninfo));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        return Cmd.run(Duration.ofSeconds(30), dir, java.util.Map.of("HOME", dir.toString()), null, cmd);
    }

    @Test
    void pgjdbcVerifyFullSucceedsWhileTheUpstreamLegIsPlain() throws SQLException {
        for (String host : List.of("localhost", "127.0.0.1")) {
            try (Connection c = pgjdbc(host, withTls.port(), "sslmode=verify-full&sslrootcert=" + caCert)) {
                assertThat(ItEnv.queryString(c, "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
                        .isEqualTo("false");
                // Enough data for many TLS records in both directions.
                assertThat(ItEnv.queryLong(c, "SELECT sum(length(repeat(md5(g::text), 20))) FROM generate_series(1, 20000) g"))
                        .isEqualTo(20000L * 640);
                assertThat(ItEnv.queryString(c, "SELECT string_agg(md5(g::text), '') FROM generate_series(1, 5000) g"))
                        .hasSize(5000 * 32);
            }
        }
    }

    @Test
    void pgjdbcVerifyFullFailsAgainstAWrongCa() {
        SQLException e = catchThrowableOfType(SQLException.class,
                () -> pgjdbc("localhost", withTls.port(), "sslmode=verify-full&sslrootcert=" + wrongCaCert).close());
        assertThat((Throwable) e).isNotNull();
        assertThat(e.getSQLState()).startsWith("08");
        assertThat(e.getMessage()).containsIgnoringCase("SSL");
        // The failed handshake leaves no session behind.
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(
                AdminHttp.metric(withTls.adminPort(), "pgmemo_client_connections_open", null)).isZero());
    }

    @Test
    void psqlWithSslmodeRequireAndVerifyFullConnects() {
        Cmd.Result require = psql("host=127.0.0.1 port=" + withTls.port() + " user=postgres dbname=test sslmode=require",
                "SELECT 'tls-ok'", "\\conninfo");
        assertThat(require.exitCode()).as(require.describe()).isZero();
        assertThat(require.stdout()).contains("tls-ok").contains("SSL connection (protocol: TLSv1.");

        Cmd.Result verify = psql("host=localhost port=" + withTls.port() + " user=postgres dbname=test"
                + " sslmode=verify-full sslrootcert=" + caCert, "SELECT 'verified'");
        assertThat(verify.exitCode()).as(verify.describe()).isZero();
        assertThat(verify.stdout()).contains("verified");

        Cmd.Result wrong = psql("host=localhost port=" + withTls.port() + " user=postgres dbname=test"
                + " sslmode=verify-full sslrootcert=" + wrongCaCert, "SELECT 'should not run'");
        assertThat(wrong.exitCode()).as(wrong.describe()).isEqualTo(2);
        assertThat(wrong.stderr()).contains("certificate verify failed");
    }

    @Test
    void cancelWorksOverTls() throws Exception {
        try (Connection c = pgjdbc("localhost", withTls.port(), "sslmode=verify-full&sslrootcert=" + caCert);
             java.sql.Statement s = c.createStatement(); Connection watcher = ItEnv.direct()) {
            java.util.concurrent.CompletableFuture<SQLException> outcome = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    s.execute("SELECT pg_sleep(10) /* it_tls_cancel */");
                    return null;
                } catch (SQLException e) {
                    return e;
                }
            }, r -> new Thread(r, "it-tls-cancel").start());
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(50)).until(() -> ItEnv.queryLong(watcher,
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%it_tls_cancel%'"
                            + " AND pid <> pg_backend_pid()") == 1);
            long start = System.nanoTime();
            s.cancel();
            SQLException e = outcome.get(8, TimeUnit.SECONDS);
            assertThat((Throwable) e).isNotNull();
            assertThat(e.getSQLState()).isEqualTo("57014");
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isLessThan(5_000);
        }
    }

    @Test
    void gssEncryptionRequestIsDeclinedAndStartupContinues() throws IOException {
        byte[] gssEncRequest = ByteBuffer.allocate(8).putInt(8).putInt(80877104).array();
        for (PgmemoServer server : List.of(withTls, withoutTls)) {
            try (RawPgClient c = new RawPgClient(server.port())) {
                c.send(gssEncRequest);
                assertThat(c.socket.getInputStream().read()).isEqualTo('N');
                c.startup(ItEnv.USER, ItEnv.DB);
                c.send(RawPgClient.query("SELECT 'after-gss-no'"));
                List<RawPgClient.Message> got = new java.util.ArrayList<>();
                RawPgClient.Message m;
                do {
                    m = c.read();
                    got.add(m);
                } while (m.type() != 'Z');
                assertThat(RawPgClient.firstColumnValues(got)).containsExactly("after-gss-no");
            }
        }
    }

    @Test
    void plainClientsAreStillServedWhenTlsIsConfigured() throws SQLException {
        try (Connection c = pgjdbc("127.0.0.1", withTls.port(), "sslmode=disable")) {
            assertThat(ItEnv.queryLong(c, "SELECT 42")).isEqualTo(42);
        }
    }

    @Test
    void withoutTlsConfiguredRequireFailsAndPreferFallsBackToPlain() throws SQLException {
        SQLException e = catchThrowableOfType(SQLException.class,
                () -> pgjdbc("127.0.0.1", withoutTls.port(), "sslmode=require").close());
        assertThat((Throwable) e).isNotNull();
        assertThat(e.getMessage()).contains("does not support SSL");

        try (Connection c = pgjdbc("127.0.0.1", withoutTls.port(), "sslmode=prefer")) {
            assertThat(ItEnv.queryLong(c, "SELECT 43")).isEqualTo(43);
        }

        Cmd.Result require = psql("host=127.0.0.1 port=" + withoutTls.port() + " user=postgres dbname=test sslmode=require",
                "SELECT 'should not run'");
        assertThat(require.exitCode()).as(require.describe()).isEqualTo(2);
        assertThat(require.stderr()).contains("server does not support SSL, but SSL was required");

        Cmd.Result prefer = psql("host=127.0.0.1 port=" + withoutTls.port() + " user=postgres dbname=test sslmode=prefer",
                "SELECT 'plain-ok'", "\\conninfo");
        assertThat(prefer.exitCode()).as(prefer.describe()).isZero();
        assertThat(prefer.stdout()).contains("plain-ok").doesNotContain("SSL connection");
    }

    @Test
    void plaintextSentRightAfterSslRequestIsRefused() throws IOException {
        // CVE-2021-23214: bytes buffered behind an SSLRequest could be injected by a man in the middle.
        byte[] sslRequest = ByteBuffer.allocate(8).putInt(8).putInt(80877103).array();
        byte[] startup = RawPgClient.startupMessage(ItEnv.USER, ItEnv.DB);
        byte[] both = ByteBuffer.allocate(sslRequest.length + startup.length).put(sslRequest).put(startup).array();
        try (RawPgClient c = new RawPgClient(withTls.port())) {
            c.send(both);
            byte[] all = c.socket.getInputStream().readAllBytes();
            assertThat(all).as("no 'S': pgmemo must not start TLS over injected bytes").isNotEmpty();
            assertThat((char) all[0]).isEqualTo('E');
            assertThat(new String(all, java.nio.charset.StandardCharsets.UTF_8)).contains("08P01");
        }
    }
}
