package dev.pgmemo.proxy.cli;

import dev.pgmemo.config.ConfigException;
import dev.pgmemo.config.PgmemoConfig;
import dev.pgmemo.proxy.PgmemoServer;
import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code pgmemo start}: runs the proxy in the foreground, or launches it in the background. */
@Command(name = "start", mixinStandardHelpOptions = true,
        description = "Start pgmemo (in the foreground unless --background is given).")
final class StartCommand implements Callable<Integer> {
    @Mixin
    ConfigOption config;

    @Option(names = "--background", description = "Run in the background; returns once the proxy port accepts connections.")
    boolean background;

    @Option(names = "--pid-file", paramLabel = "FILE", description = "Write the process id here (default with --background: pid_file from the config, else ./pgmemo.pid).")
    Path pidFile;

    @Option(names = "--log-file", paramLabel = "FILE", description = "With --background: where output goes (default: pgmemo.log next to the pid file).")
    Path logFile;

    @Override
    public Integer call() throws Exception {
        PgmemoConfig cfg;
        try {
            cfg = config.load();
        } catch (ConfigException e) {
            System.err.println("pgmemo: " + e.getMessage());
            return 1;
        }
        return background ? startBackground(cfg) : runForeground(cfg);
    }

    private Path effectivePidFile(PgmemoConfig cfg) {
        if (pidFile != null) {
            return pidFile.toAbsolutePath();
        }
        return cfg.pidFile() != null ? cfg.pidFile().toAbsolutePath() : null;
    }

    private int runForeground(PgmemoConfig cfg) throws InterruptedException {
        Path pid = effectivePidFile(cfg);
        PgmemoServer server;
        try {
            server = PgmemoServer.start(cfg);
        } catch (IOException | IllegalArgumentException e) {
            System.err.println("pgmemo: " + e.getMessage());
            return 1;
        }
        if (pid != null) {
            try {
                PidFile.write(pid);
            } catch (IOException e) {
                System.err.println("pgmemo: cannot write pid file " + pid + ": " + e.getMessage());
                server.stop(java.time.Duration.ZERO);
                return 1;
            }
        }
        Thread hook = new Thread(() -> {
            server.close();
            if (pid != null) {
                PidFile.deleteIfOurs(pid);
            }
        }, "pgmemo-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            // SIGHUP reloads the configuration, as for most Unix daemons.
            sun.misc.Signal.handle(new sun.misc.Signal("HUP"), sig -> {
                try {
                    server.reload();
                } catch (dev.pgmemo.config.ConfigException e) {
                    org.slf4j.LoggerFactory.getLogger(StartCommand.class).error("reload refused, the running configuration is unchanged: {}", e.getMessage());
                }
            });
        } catch (IllegalArgumentException e) {
            // no SIGHUP on this platform
        }
        server.awaitStopped();
        if (pid != null) {
            PidFile.deleteIfOurs(pid);
        }
        return 0;
    }

    /**
     * The setsid(1) program, which the background process is started through so that it runs in a session of
     * its own, as daemons do (pg_ctl, PgBouncer's -d): no signal meant for the shell's jobs or terminal reaches
     * it, and where the kernel groups tasks for CPU scheduling by session (autogroup, on by default in Debian's
     * kernels) it gets its own share instead of dividing one with whatever else the starting shell runs (a load
     * generator, say: sharing pgbench's share stalled single queries for up to 1.5 s, docs/benchmarks.md, session
     * 10). The child of this JVM is not a process group leader, so setsid(1) execs in place and the pid stays.
     * Null where there is none (the process then stays in the caller's session).
     */
    static Path setsid() {
        for (String dir : List.of("/usr/bin", "/bin", "/usr/sbin", "/sbin")) {
            Path p = Path.of(dir, "setsid");
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    private int startBackground(PgmemoConfig cfg) throws IOException, InterruptedException {
        Path pid = effectivePidFile(cfg);
        if (pid == null) {
            pid = Path.of("pgmemo.pid").toAbsolutePath();
        }
        Long existing = PidFile.readLive(pid);
        if (existing != null) {
            System.err.println("pgmemo: already running (pid " + existing + ", pid file " + pid + ")");
            return 1;
        }
        Path log = logFile != null ? logFile.toAbsolutePath() : pid.resolveSibling("pgmemo.log");
        List<String> cmd = new ArrayList<>();
        Path setsid = setsid();
        if (setsid != null) {
            cmd.add(setsid.toString());
        }
        cmd.add(ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java"));
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Pgmemo.class.getName());
        cmd.add("start");
        Path file = config.resolve();
        if (file != null) {
            cmd.add("-c");
            cmd.add(file.toAbsolutePath().toString());
        }
        cmd.add("--pid-file");
        cmd.add(pid.toString());
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Process child = pb.start();
        String host = cfg.listen().host();
        if ("0.0.0.0".equals(host) || "::".equals(host)) {
            host = "127.0.0.1";
        }
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (!child.isAlive()) {
                System.err.println("pgmemo: failed to start (exit code " + child.exitValue() + "); last lines of " + log + ":");
                System.err.println(tail(log, 20));
                return 1;
            }
            if (cfg.listen().port() != 0 && accepts(host, cfg.listen().port()) && Files.exists(pid)) {
                System.out.println("pgmemo started in the background (pid " + child.pid() + "), listening on "
                        + cfg.listen() + "; log: " + log);
                return 0;
            }
            Thread.sleep(100);
        }
        System.err.println("pgmemo: did not start listening on " + cfg.listen() + " within 60s; see " + log);
        child.destroy();
        return 1;
    }

    private static boolean accepts(String host, int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, port), 500);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static String tail(Path file, int lines) {
        try {
            List<String> all = Files.readAllLines(file, StandardCharsets.UTF_8);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(cannot read " + file + ": " + e.getMessage() + ")";
        }
    }
}
