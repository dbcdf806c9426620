package dev.pgmemo.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code bin/pgmemo} command line as an operator uses it: version and help, check-config, status exit
 * codes, start in the background or foreground, stop with a graceful drain, SIGTERM, a taken port.
 */
@ExtendWith(LeakWatch.class)
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class CliIT {
    private static final Duration CLI_TIMEOUT = Duration.ofSeconds(60);

    private static Path bin;

    @TempDir
    Path dir;

    private int listenPort;
    private int adminPort;
    private Path config;
    private Path pidFile;
    /** Processes this test started (directly or via --background), ended in {@link #endLeftovers}. */
    private final List<Long> started = new ArrayList<>();

    @BeforeAll
    static void findLauncher() throws SQLException {
        Path root = ItEnv.repoRoot();
        bin = root.resolve("bin/pgmemo");
        assertThat(root.resolve("proxy/target/pgmemo.jar"))
                .as("build the CLI jar first: mvn -B -q -pl proxy -am install -DskipTests").exists();
        ItEnv.execDirect("DROP TABLE IF EXISTS it_cli_drain");
        ItEnv.execDirect("CREATE TABLE it_cli_drain (id int)");
    }

    @AfterAll
    static void dropTable() throws SQLException {
        ItEnv.execDirect("DROP TABLE IF EXISTS it_cli_drain");
    }

    @BeforeEach
    void writeConfig() throws IOException {
        listenPort = ItEnv.freePort();
        adminPort = ItEnv.freePort();
        pidFile = dir.resolve("pgmemo.pid");
        config = dir.resolve("pgmemo.yaml");
        Files.writeString(config, configText(listenPort));
    }

    private String configText(int listen) {
        return "listen: 127.0.0.1:" + listen + "\n"
                + "admin:\n  listen: 127.0.0.1:" + adminPort + "\n"
                + "upstream: postgresql://127.0.0.1:5432\n"
                + "pid_file: " + pidFile + "\n"
                + "drain_timeout: 20s\n"
                + "cache:\n  enabled: false\n";
    }

    @AfterEach
    void endLeftovers() {
        Long fromPidFile = readPid();
        if (fromPidFile != null && !started.contains(fromPidFile)) {
            started.add(fromPidFile);
        }
        for (long pid : started) {
            ProcessHandle.of(pid).ifPresent(h -> {
                h.destroy();
                try {
                    h.onExit().get(20, TimeUnit.SECONDS);
                } catch (Exception e) {
                    h.destroyForcibly();
                }
            });
        }
    }

    private Long readPid() {
        try {
            return Long.parseLong(Files.readString(pidFile).trim());
        } catch (IOException | NumberFormatException e) {
            return null;
        }
    }

    private Cmd.Result cli(String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(bin.toString());
        cmd.addAll(List.of(args));
        return Cmd.run(CLI_TIMEOUT, dir, null, null, cmd);
    }

    private CompletableFuture<Cmd.Result> cliAsync(String... args) {
        CompletableFuture<Cmd.Result> f = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                f.complete(cli(args));
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        }, "it-cli");
        t.setDaemon(true);
        t.start();
        return f;
    }

    /** start --background; returns the pid from the pid file. */
    private long startBackground() {
        Cmd.Result r = cli("start", "-c", config.toString(), "--background");
        Long pid = readPid();
        if (pid != null) {
            started.add(pid);
        }
        assertThat(r.exitCode()).as(r.describe()).isZero();
        assertThat(pid).as("pid file " + pidFile).isNotNull();
        assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive)).contains(true);
        return pid;
    }

    // ---- the launcher's JVM defaults ---------------------------------------------------------------------

    /** What {@code bin/pgmemo} passes to {@code java} (a stand-in under $JAVA_HOME that prints its arguments). */
    private String javaArgs(Map<String, String> env, String... args) throws IOException {
        Path home = dir.resolve("fake-jdk");
        Files.createDirectories(home.resolve("bin"));
        Path java = home.resolve("bin/java");
        Files.writeString(java, "#!/bin/sh\necho \"$*\"\n");
        java.toFile().setExecutable(true);
        Map<String, String> all = new java.util.HashMap<>(env);
        all.put("JAVA_HOME", home.toString());
        // Cmd.run adds to the inherited environment: an empty JAVA_OPTS (which the launcher treats as unset)
        // keeps one set by whoever runs the build from replacing the defaults under test.
        all.putIfAbsent("JAVA_OPTS", "");
        List<String> cmd = new ArrayList<>();
        cmd.add(bin.toString());
        cmd.addAll(List.of(args));
        Cmd.Result r = Cmd.run(CLI_TIMEOUT, dir, all, null, cmd);
        assertThat(r.exitCode()).as(r.describe()).isZero();
        return r.stdout().trim();
    }

    @Test
    void theLauncherPicksTheCollectorByStore() throws IOException {
        // The in-process store (no cache.store), caching off, or no file at all: G1 with a short pause goal.
        assertThat(javaArgs(Map.of(), "start", "-c", config.toString())).startsWith("-XX:+UseG1GC -XX:MaxGCPauseMillis=50")
                .contains(" -jar ").endsWith("pgmemo.jar start -c " + config);
        assertThat(javaArgs(Map.of(), "status")).startsWith("-XX:+UseG1GC");
        // Redis: ParallelGC, whichever way the file is named, and a commented-out store does not count.
        Path redis = dir.resolve("redis.yaml");
        Files.writeString(redis, "cache: {store: \"redis://127.0.0.1:6379\", default_ttl: 10s}\n");
        Path commented = dir.resolve("commented.yaml");
        Files.writeString(commented, "cache:\n  # store: redis://127.0.0.1:6379\n  store_timeout: 50ms\n");
        assertThat(javaArgs(Map.of(), "start", "-c", redis.toString())).startsWith("-XX:+UseParallelGC");
        assertThat(javaArgs(Map.of(), "start", "--config=" + redis)).startsWith("-XX:+UseParallelGC");
        assertThat(javaArgs(Map.of("PGMEMO_CONFIG", redis.toString()), "start")).startsWith("-XX:+UseParallelGC");
        assertThat(javaArgs(Map.of(), "start", "-c", commented.toString())).startsWith("-XX:+UseG1GC");
        // JAVA_OPTS replaces the defaults
        assertThat(javaArgs(Map.of("JAVA_OPTS", "-Xmx1g"), "start", "-c", redis.toString())).startsWith("-Xmx1g -jar ");
    }

    @Test
    void theLauncherKeepsTheCompilerFromTrappingOnBranchesItHasNotSeen() throws IOException {
        // Both default sets: without it every burst of new connections recompiled the hot methods (docs/benchmarks.md).
        Path redis = dir.resolve("redis-traps.yaml");
        Files.writeString(redis, "cache: {store: \"redis://127.0.0.1:6379\"}\n");
        assertThat(javaArgs(Map.of(), "start", "-c", config.toString())).contains(" -XX:PerMethodTrapLimit=0 ");
        assertThat(javaArgs(Map.of(), "start", "-c", redis.toString())).contains(" -XX:PerMethodTrapLimit=0 ");
        // and the JVM this build runs on accepts the flag (checked here directly: the tests that start pgmemo through
        // the launcher pass it only when the build runs without JAVA_OPTS)
        Cmd.Result r = Cmd.run(CLI_TIMEOUT, dir, Map.of(), null,
                List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:PerMethodTrapLimit=0", "-version"));
        assertThat(r.exitCode()).as(r.describe()).isZero();
    }

    // ---- informational commands ----------------------------------------------------------------------------

    @Test
    void versionPrintsTheVersion() {
        Cmd.Result r = cli("--version");
        assertThat(r.exitCode()).as(r.describe()).isZero();
        assertThat(r.stdout().strip()).matches("pgmemo \\d+\\.\\d+\\.\\d+\\S*");
    }

    @Test
    void everyCommandHasHelp() {
        Cmd.Result top = cli("--help");
        assertThat(top.exitCode()).as(top.describe()).isZero();
        assertThat(top.stdout()).contains("Usage: pgmemo").contains("start").contains("stop").contains("status")
                .contains("check-config");
        for (String sub : List.of("start", "stop", "status", "check-config")) {
            Cmd.Result r = cli(sub, "--help");
            assertThat(r.exitCode()).as(r.describe()).isZero();
            assertThat(r.stdout()).as(r.describe()).contains("Usage: pgmemo " + sub).contains("--config");
        }
    }

    @Test
    void unknownCommandFailsWithAMessage() {
        Cmd.Result r = cli("frobnicate");
        assertThat(r.exitCode()).as(r.describe()).isNotZero();
        assertThat(r.stderr()).contains("frobnicate");
    }

    @Test
    void checkConfigAcceptsAValidFile() {
        Cmd.Result r = cli("check-config", "-c", config.toString());
        assertThat(r.exitCode()).as(r.describe()).isZero();
        assertThat(r.stdout()).contains("OK").contains("127.0.0.1:" + listenPort);
    }

    @Test
    void checkConfigShowsTheUnixSocket() throws IOException {
        Path withSocket = dir.resolve("with-socket.yaml");
        Files.writeString(withSocket, "listen: 127.0.0.1:16001\nunix_socket_dir: " + dir + "\n");
        Cmd.Result r = cli("check-config", "-c", withSocket.toString());
        assertThat(r.exitCode()).as(r.describe()).isZero();
        assertThat(r.stdout()).contains("listen 127.0.0.1:16001 and " + dir.resolve(".s.PGSQL.16001") + ",");
    }

    @Test
    void checkConfigRejectsBadFilesNamingFileLineAndKey() throws IOException {
        Path badDuration = dir.resolve("bad-duration.yaml");
        Files.writeString(badDuration, """
                listen: 127.0.0.1:16000
                upstream: postgresql://127.0.0.1:5432
                cache:
                  enabled: false
                  default_ttl: 10 parsecs
                """);
        Cmd.Result r = cli("check-config", "-c", badDuration.toString());
        assertThat(r.exitCode()).as(r.describe()).isNotZero();
        assertThat(r.stderr()).as(r.describe()).contains("bad-duration.yaml:5").contains("default_ttl");

        Path unknownKey = dir.resolve("unknown-key.yaml");
        Files.writeString(unknownKey, """
                listen: 127.0.0.1:16000
                lisen_backlog: 5
                """);
        Cmd.Result u = cli("check-config", "-c", unknownKey.toString());
        assertThat(u.exitCode()).as(u.describe()).isNotZero();
        assertThat(u.stderr()).as(u.describe()).contains("unknown-key.yaml:2").contains("lisen_backlog");

        Cmd.Result missing = cli("check-config", "-c", dir.resolve("nope.yaml").toString());
        assertThat(missing.exitCode()).as(missing.describe()).isNotZero();
        assertThat(missing.stderr()).contains("nope.yaml");

        // start refuses the same file without starting anything.
        Cmd.Result start = cli("start", "-c", badDuration.toString());
        assertThat(start.exitCode()).as(start.describe()).isEqualTo(1);
        assertThat(start.stderr()).contains("bad-duration.yaml:5");
    }

    @Test
    void statusIsThreeWhenNotRunning() {
        Cmd.Result r = cli("status", "-c", config.toString());
        assertThat(r.exitCode()).as(r.describe()).isEqualTo(3);
        assertThat(r.stdout()).contains("not running");
    }

    // ---- lifecycle ------------------------------------------------------------------------------------------

    @Test
    void backgroundStartServesQueriesUntilStop() throws SQLException {
        long pid = startBackground();
        assertThat(ItEnv.accepts(listenPort)).isTrue();

        Cmd.Result status = cli("status", "-c", config.toString());
        assertThat(status.exitCode()).as(status.describe()).isZero();
        assertThat(status.stdout()).contains("running").contains(String.valueOf(pid));

        try (Connection c = ItEnv.connect(listenPort, "")) {
            assertThat(ItEnv.queryString(c, "SELECT 'through the CLI-started pgmemo'"))
                    .isEqualTo("through the CLI-started pgmemo");
        }

        Cmd.Result stop = cli("stop", "-c", config.toString());
        assertThat(stop.exitCode()).as(stop.describe()).isZero();
        assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).isFalse();
        assertThat(ItEnv.accepts(listenPort)).isFalse();
        assertThat(pidFile).doesNotExist();

        Cmd.Result after = cli("status", "-c", config.toString());
        assertThat(after.exitCode()).as(after.describe()).isEqualTo(3);
        Cmd.Result stopAgain = cli("stop", "-c", config.toString());
        assertThat(stopAgain.exitCode()).as("stopping a stopped pgmemo is not an error: " + stopAgain.describe())
                .isZero();
    }

    @Test
    void theBackgroundProcessRunsInASessionOfItsOwn() throws Exception {
        Cmd.Result r = cli("start", "-c", config.toString(), "--background");
        Long pid = readPid();
        if (pid != null) {
            started.add(pid);
        }
        assertThat(r.exitCode()).as(r.describe()).isZero();
        assertThat(pid).isNotNull();
        // The pid it reports is the one that runs (setsid did not fork), and that process leads its own session
        // and process group, like a daemon: the test's session (and a shell's) is not its own.
        assertThat(r.stdout()).contains("(pid " + pid + ")");
        long[] daemon = sessionAndGroup(pid);
        long[] ours = sessionAndGroup(ProcessHandle.current().pid());
        assertThat(daemon[0]).as("session of the background pgmemo").isEqualTo(pid).isNotEqualTo(ours[0]);
        assertThat(daemon[1]).as("process group of the background pgmemo").isEqualTo(pid);
        Cmd.Result stop = cli("stop", "-c", config.toString());
        assertThat(stop.exitCode()).as(stop.describe()).isZero();
    }

    /** {session id, process group id} of a process, from /proc (Linux). */
    private static long[] sessionAndGroup(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return new long[] {Long.parseLong(f[3]), Long.parseLong(f[2])}; // state ppid pgrp session ...
    }

    @Test
    void foregroundProcessStopsGracefullyOnSigterm() throws Exception {
        Path log = dir.resolve("foreground.log");
        Process p = new ProcessBuilder(bin.toString(), "start", "-c", config.toString())
                .directory(dir.toFile())
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        started.add(p.pid());
        await().atMost(Duration.ofSeconds(30)).until(() -> ItEnv.accepts(listenPort) || !p.isAlive());
        assertThat(p.isAlive()).as(Files.readString(log)).isTrue();
        try (Connection idle = ItEnv.connect(listenPort, "")) {
            assertThat(ItEnv.queryLong(idle, "SELECT 5")).isEqualTo(5);

            p.destroy();   // SIGTERM

            assertThat(p.waitFor(30, TimeUnit.SECONDS)).as("exited after SIGTERM").isTrue();
            assertThat(ItEnv.accepts(listenPort)).isFalse();
            assertThat(Files.readString(log)).contains("pgmemo stopped");
            assertThat(pidFile).doesNotExist();
            SQLException e = catchThrowableOfType(SQLException.class, () -> ItEnv.queryLong(idle, "SELECT 6"));
            assertThat((Throwable) e).as("the idle session was closed").isNotNull();
        }
    }

    @Test
    void stopWaitsForAnOpenTransactionAndClosesIdleSessions() throws Exception {
        long pid = startBackground();
        try (Connection inTx = ItEnv.connect(listenPort, ""); Connection idle = ItEnv.connect(listenPort, "")) {
            inTx.setAutoCommit(false);
            try (Statement s = inTx.createStatement()) {
                s.executeUpdate("INSERT INTO it_cli_drain VALUES (1)");
            }
            assertThat(ItEnv.queryLong(idle, "SELECT 1")).isEqualTo(1);

            CompletableFuture<Cmd.Result> stop = cliAsync("stop", "-c", config.toString());

            // The idle session is ended (PostgreSQL's admin-shutdown error, or just closed).
            SQLException idleError = await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(100))
                    .until(() -> {
                        try {
                            ItEnv.queryLong(idle, "SELECT 1");
                            return null;
                        } catch (SQLException e) {
                            return e;
                        }
                    }, e -> e != null);
            assertThat(idleError.getSQLState()).matches("57P01|08.*");
            // No new connections while draining.
            assertThat(ItEnv.accepts(listenPort)).isFalse();
            // The transaction is allowed to finish; stop keeps waiting for it.
            Thread.sleep(1000);
            assertThat(stop).isNotDone();
            assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive)).contains(true);
            try (Statement s = inTx.createStatement()) {
                s.executeUpdate("INSERT INTO it_cli_drain VALUES (2)");
            }
            inTx.commit();

            Cmd.Result r = stop.get(20, TimeUnit.SECONDS);
            assertThat(r.exitCode()).as(r.describe()).isZero();
            assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).isFalse();
        }
        try (Connection d = ItEnv.direct()) {
            assertThat(ItEnv.queryString(d, "SELECT string_agg(id::text, ',' ORDER BY id) FROM it_cli_drain"))
                    .isEqualTo("1,2");
        }
    }

    @Test
    void startFailsClearlyWhenTheListenPortIsTaken() throws IOException {
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress("127.0.0.1", 0));
            Files.writeString(config, configText(taken.getLocalPort()));

            Cmd.Result fg = cli("start", "-c", config.toString());
            assertThat(fg.exitCode()).as(fg.describe()).isEqualTo(1);
            assertThat(fg.stderr()).as(fg.describe()).contains("127.0.0.1:" + taken.getLocalPort())
                    .containsIgnoringCase("address already in use");

            Cmd.Result bg = cli("start", "-c", config.toString(), "--background");
            assertThat(bg.exitCode()).as(bg.describe()).isEqualTo(1);
            assertThat(bg.stderr()).as(bg.describe()).contains("127.0.0.1:" + taken.getLocalPort());
            Long pid = readPid();
            assertThat(pid == null || ProcessHandle.of(pid).map(h -> !h.isAlive()).orElse(true))
                    .as("no pgmemo left running").isTrue();
        }
    }
}
