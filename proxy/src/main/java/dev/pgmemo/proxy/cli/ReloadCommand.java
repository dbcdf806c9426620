package dev.pgmemo.proxy.cli;

import dev.pgmemo.config.ConfigException;
import dev.pgmemo.config.PgmemoConfig;
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
        return AdminClient.postAndReport(cfg.admin().listen(), "/reload");
    }
}
