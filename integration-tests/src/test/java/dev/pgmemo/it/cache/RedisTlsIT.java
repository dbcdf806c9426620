package dev.pgmemo.it.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.it.Transports;
import dev.pgmemo.it.cache.CacheIt.Metrics;
import dev.pgmemo.it.cache.CacheIt.Mode;
import dev.pgmemo.it.cache.CacheIt.Store;
import dev.pgmemo.proxy.PgmemoServer;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Redis over TLS ({@code rediss://}) with a certificate from a CA of the test's own: trusted through
 * {@code cache.store_ca}, pgmemo caches on every transport; without it, the JVM does not trust the server, and
 * pgmemo serves every query from PostgreSQL instead (fail open) and says why.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class RedisTlsIT {
    private static final String TABLE = "memo_redis_tls_" + CacheIt.uid();
    private static final String READ = "SELECT v FROM " + TABLE + " WHERE k = ?";

    private static Path dir;
    private static Process redis;
    private static int port;

    @BeforeAll
    static void startTlsRedis() throws Exception {
        dir = Files.createTempDirectory("pgmemo-it-redis-tls");
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=pgmemo-it-ca",
                "-keyout", "ca.key", "-out", "ca.crt");
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "redis.key",
                "-out", "redis.csr");
        Files.writeString(dir.resolve("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
        openssl("x509", "-req", "-in", "redis.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "1", "-extfile", "ext.cnf", "-out", "redis.crt");
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        redis = new ProcessBuilder("redis-server", "--port", "0", "--bind", "127.0.0.1", "--tls-port",
                String.valueOf(port), "--tls-cert-file", p("redis.crt"), "--tls-key-file", p("redis.key"),
                "--tls-ca-cert-file", p("ca.crt"), "--tls-auth-clients", "no", "--save", "", "--appendonly", "no",
                "--dir", dir.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("redis.log").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            try (Socket ignored = new Socket("127.0.0.1", port)) {
                break;
            } catch (IOException notYet) {
                if (!redis.isAlive() || System.nanoTime() > deadline) {
                    throw new IOException("redis-server with TLS did not start: " + Files.readString(dir.resolve("redis.log")));
                }
                Thread.sleep(20);
            }
        }
        CacheIt.execDirect("CREATE TABLE " + TABLE + " (k text PRIMARY KEY, v int NOT NULL)");
    }

    @AfterAll
    static void stopTlsRedis() throws Exception {
        if (redis != null) {
            redis.destroyForcibly();
            redis.waitFor(10, TimeUnit.SECONDS);
        }
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.deleteIfExists(f);
            }
        }
        Files.deleteIfExists(dir);
        CacheIt.execDirect("DROP TABLE IF EXISTS " + TABLE);
    }

    private static String p(String name) {
        return dir.resolve(name).toString();
    }

    private static void openssl(String... args) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("openssl %s: %s", command, out).isZero();
    }

    private static String yaml(boolean trustTheCa) {
        return CacheIt.yaml(Store.MEMORY, "").replace("cache:\n", "cache:\n  store: rediss://127.0.0.1:" + port + "\n"
                + (trustTheCa ? "  store_ca: " + p("ca.crt") + "\n" : ""));
    }

    @ParameterizedTest
    @MethodSource("dev.pgmemo.it.Transports#all")
    void cachesInRedisOverTlsWithItsCa(String transport) throws Exception {
        try (PgmemoServer pgmemo = Transports.startOn(transport, () -> CacheIt.start(yaml(true)))) {
            assertThat(pgmemo.transportName()).isEqualTo(Transports.expected(transport));
            CacheIt.assertHitThenInvalidation(pgmemo, TABLE, "tls-" + transport);
        }
    }

    @Test
    void anUntrustedServerIsNotUsedAndQueriesStillWork() throws Exception {
        String k = "tls-untrusted";
        CacheIt.execDirect("INSERT INTO " + TABLE + " VALUES ('" + k + "', 1)");
        try (PgmemoServer pgmemo = CacheIt.start(yaml(false));
                Connection c = CacheIt.connect(pgmemo, Mode.SIMPLE)) {
            Metrics m0 = CacheIt.metrics(pgmemo, c);
            for (int i = 0; i < 3; i++) {
                assertThat(CacheIt.one(c, READ, k)).isEqualTo("1");
            }
            CacheIt.execDirect("UPDATE " + TABLE + " SET v = 5 WHERE k = '" + k + "'");
            assertThat(CacheIt.one(c, READ, k)).as("nothing was cached").isEqualTo("5");
            Metrics m1 = CacheIt.metrics(pgmemo, c);
            assertThat(m1.hits() - m0.hits()).as("no hit without a trusted connection: %s", m1.since(m0)).isZero();
            assertThat(m1.bypasses() - m0.bypasses()).as("bypassed: %s", m1.since(m0)).isGreaterThanOrEqualTo(4);
        }
    }
}
