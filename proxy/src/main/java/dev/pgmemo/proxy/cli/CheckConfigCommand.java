package dev.pgmemo.proxy.cli;

import dev.pgmemo.config.ConfigException;
import dev.pgmemo.config.PgmemoConfig;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code pgmemo check-config}: validates a configuration file without starting anything. */
@Command(name = "check-config", mixinStandardHelpOptions = true,
        description = "Validate a configuration file. Exit code 0 when valid, 1 with the error (file:line: key: problem) otherwise.")
final class CheckConfigCommand implements Callable<Integer> {
    @Mixin
    ConfigOption config;

    @Override
    public Integer call() {
        Path file = config.resolve();
        try {
            PgmemoConfig cfg = config.load();
            System.out.println("configuration OK: " + (file == null ? "(built-in defaults)" : file)
                    + "; listen " + cfg.listen()
                    + (cfg.unixSocket() == null ? "" : " and " + cfg.unixSocket().socket(cfg.listen().port()))
                    + ", upstream " + cfg.upstream().describe()
                    + ", admin " + (cfg.admin().enabled() ? cfg.admin().listen() : "disabled")
                    + ", " + cfg.rules().size() + " rule(s)");
            return 0;
        } catch (ConfigException e) {
            System.err.println("pgmemo: " + e.getMessage());
            return 1;
        }
    }
}
