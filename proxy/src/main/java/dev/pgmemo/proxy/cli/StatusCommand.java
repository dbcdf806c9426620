package dev.pgmemo.proxy.cli;

import dev.pgmemo.config.ConfigException;
import dev.pgmemo.config.PgmemoConfig;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code pgmemo status}: exit 0 when running, 3 when not (1 when a stale pid file is left), as LSB init scripts do. */
@Command(name = "status", mixinStandardHelpOptions = true,
        description = "Report whether pgmemo is running. Exit code 0: running, 1: dead but pid file exists, 3: not running.")
final class StatusCommand implements Callable<Integer> {
    @Mixin
    ConfigOption config;

    @Option(names = "--pid-file", paramLabel = "FILE", description = "Pid file of the instance (default: pid_file from the config, else ./pgmemo.pid).")
    Path pidFile;

    @Override
    public Integer call() {
        PgmemoConfig cfg;
        try {
            cfg = config.load();
        } catch (ConfigException e) {
            System.err.println("pgmemo: " + e.getMessage());
            return 4;
        }
        Path pidPath = pidFile != null ? pidFile : cfg.pidFile() != null ? cfg.pidFile() : Path.of("pgmemo.pid");
        if (cfg.admin().enabled()) {
            AdminClient admin = new AdminClient(cfg.admin().listen());
            try {
                HttpResponse<String> r = admin.get("/status");
                String body = r.body();
                String socket = AdminClient.field(body, "unix_socket");
                System.out.println("pgmemo is " + AdminClient.field(body, "status") + " (pid " + AdminClient.field(body, "pid")
                        + ", version " + AdminClient.field(body, "version") + ", listening on " + AdminClient.field(body, "listen")
                        + (socket == null ? "" : " and " + socket)
                        + ", upstream " + AdminClient.field(body, "upstream") + ", " + AdminClient.field(body, "sessions")
                        + " client session(s))");
                return 0;
            } catch (IOException e) {
                // fall through to the pid file
            }
        }
        Long live = PidFile.readLive(pidPath);
        if (live != null) {
            System.out.println("pgmemo is running (pid " + live + "), admin endpoint not reachable");
            return 0;
        }
        if (Files.exists(pidPath)) {
            System.out.println("pgmemo is not running, but pid file " + pidPath + " exists");
            return 1;
        }
        System.out.println("pgmemo is not running");
        return Pgmemo.EXIT_NOT_RUNNING;
    }
}
