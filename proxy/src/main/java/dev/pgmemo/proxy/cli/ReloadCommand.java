package dev.pgmemo.proxy.cli;

import dev.pgmemo.config.ConfigException;
import dev.pgmemo.config.PgmemoConfig;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code pgmemo reload}: re-reads the configuration file of a running pgmemo (same as SIGHUP). */
@Command(name = "reload", mixinStandardHelpOptions = true,
        description = "Apply a changed configuration file (rules, default_ttl) to a running pgmemo without dropping connections. "
                + "An invalid file is refused and the running rules stay.")
final class ReloadCommand implements Callable<Integer> {
    @Mixin
    ConfigOption config;

    @Override
    public Integer call() {
        PgmemoConfig cfg;
        try {
            cfg = config.load();
        } catch (ConfigException e) {
            System.err.println("pgmemo: reload refused, the running configuration is unchanged: " + e.getMessage());
            return 1;
        }
        try {
            HttpResponse<String> r = new AdminClient(cfg.admin().listen()).post("/reload");
            if (r.statusCode() == 200) {
                System.out.print(r.body());
                return 0;
            }
            System.err.print("pgmemo: " + r.body());
            return 1;
        } catch (IOException e) {
            System.err.println("pgmemo is not running (admin endpoint " + cfg.admin().listen() + " unreachable)");
            return Pgmemo.EXIT_NOT_RUNNING;
        }
    }
}
