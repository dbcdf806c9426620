package dev.pgmemo.proxy.cli;

import dev.pgmemo.config.ConfigException;
import dev.pgmemo.config.PgmemoConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code pgmemo stop}: graceful stop through the admin endpoint (or SIGTERM to the pid in the pid file). */
@Command(name = "stop", mixinStandardHelpOptions = true,
        description = "Stop a running pgmemo gracefully: stop accepting, let open transactions finish up to drain_timeout, then close.")
final class StopCommand implements Callable<Integer> {
    @Mixin
    ConfigOption config;

    @Option(names = "--pid-file", paramLabel = "FILE", description = "Pid file of the instance (default: pid_file from the config, else ./pgmemo.pid).")
    Path pidFile;

    @Override
    public Integer call() throws Exception {
        PgmemoConfig cfg;
        try {
            cfg = config.load();
        } catch (ConfigException e) {
            System.err.println("pgmemo: " + e.getMessage());
            return 1;
        }
        Path pidPath = pidFile != null ? pidFile : cfg.pidFile() != null ? cfg.pidFile() : Path.of("pgmemo.pid");
        AdminClient admin = new AdminClient(cfg.admin().listen());
        Long pid = null;
        boolean requested = false;
        if (cfg.admin().enabled()) {
            try {
                String status = admin.get("/status").body();
                String p = AdminClient.field(status, "pid");
                pid = p == null ? null : Long.parseLong(p);
                requested = admin.post("/stop").statusCode() / 100 == 2;
            } catch (IOException | NumberFormatException e) {
                // not reachable: fall back to the pid file
            }
        }
        if (!requested) {
            pid = PidFile.readLive(pidPath);
            if (pid == null) {
                System.out.println("pgmemo is not running");
                return 0;
            }
            Optional<ProcessHandle> ph = ProcessHandle.of(pid);
            ph.ifPresent(ProcessHandle::destroy);
        }
        long waitMs = cfg.drainTimeout().toMillis() + TimeUnit.SECONDS.toMillis(15);
        long deadline = System.currentTimeMillis() + waitMs;
        while (System.currentTimeMillis() < deadline) {
            boolean gone = pid != null
                    ? ProcessHandle.of(pid).map(h -> !h.isAlive()).orElse(true)
                    : !reachable(admin);
            if (gone) {
                System.out.println("pgmemo stopped" + (pid != null ? " (pid " + pid + ")" : ""));
                return 0;
            }
            Thread.sleep(100);
        }
        System.err.println("pgmemo: still running " + waitMs / 1000 + "s after the stop request" + (pid != null ? " (pid " + pid + ")" : ""));
        return 1;
    }

    private static boolean reachable(AdminClient admin) {
        try {
            admin.get("/health");
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
