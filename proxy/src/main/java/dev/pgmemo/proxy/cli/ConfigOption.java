package dev.pgmemo.proxy.cli;

import dev.pgmemo.config.ConfigException;
import dev.pgmemo.config.ConfigLoader;
import dev.pgmemo.config.PgmemoConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The {@code -c/--config} option shared by every command. Without it pgmemo uses $PGMEMO_CONFIG, then
 * ./pgmemo.yaml, then /etc/pgmemo/pgmemo.yaml, and otherwise the built-in defaults.
 */
final class ConfigOption {
    @Option(names = {"-c", "--config"}, paramLabel = "FILE",
            description = "Configuration file (default: $PGMEMO_CONFIG, ./pgmemo.yaml, /etc/pgmemo/pgmemo.yaml, or built-in defaults).")
    Path file;

    /** The file that will be used, or null for built-in defaults. */
    Path resolve() {
        if (file != null) {
            return file;
        }
        String env = System.getenv("PGMEMO_CONFIG");
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        for (Path candidate : new Path[] {Path.of("pgmemo.yaml"), Path.of("/etc/pgmemo/pgmemo.yaml")}) {
            if (Files.isRegularFile(candidate)) {
                return candidate;
            }
        }
        return null;
    }

    PgmemoConfig load() throws ConfigException {
        Path path = resolve();
        return path == null ? ConfigLoader.defaults() : ConfigLoader.load(path);
    }
}
